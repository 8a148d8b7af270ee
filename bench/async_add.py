"""Asynchronous Add under a burst, over real gRPC against a real `recalld serve` process.

    python -m bench.async_add [--adds 1000] [--clients 8] [--users 50] [--backend embedded]

A burst of ``--adds`` single-sentence Adds (infer=true, spaCy extraction) from ``--clients``
concurrent clients over ``--users`` users, first with mode ASYNC, then (on fresh users) with
mode SYNC for comparison. ASYNC reports the acknowledgement latency of each Add and the time
from sending it to its operation being applied (the operation's ``updated_at`` on the server,
same machine clock), and how long the whole burst took to drain. Writes
bench/results/async-add-<backend>-<date>.md.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc

from bench.latency import RESULTS, backend_env, machine_lines, pct, sentence
from recalld.v1 import common_pb2, memory_pb2, memory_pb2_grpc
from tests.harness import ServerProcess


def burst(
    stub: memory_pb2_grpc.MemoryServiceStub, texts: list[tuple[str, str]], clients: int, mode: int
) -> tuple[list[float], dict[str, float], float]:
    """Send every (user, text) Add from ``clients`` threads. Returns the per-Add latency in ms,
    operation id -> send time (epoch seconds) for ASYNC, and the burst's wall time in s."""
    latencies: list[float] = []
    sent: dict[str, float] = {}
    lock = threading.Lock()
    work = iter(texts)

    def client() -> None:
        while True:
            with lock:
                item = next(work, None)
            if item is None:
                return
            user, text = item
            req = memory_pb2.AddRequest(
                scope=common_pb2.Scope(user_id=user),
                messages=[memory_pb2.Message(role="user", content=text)],
                mode=mode,
            )
            at = time.time()
            t0 = time.perf_counter()
            r = stub.Add(req, timeout=300)
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
                if r.operation_id:
                    sent[r.operation_id] = at

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, sent, time.perf_counter() - t0


def drain(stub: memory_pb2_grpc.MemoryServiceStub, ids: list[str]) -> dict[str, memory_pb2.Operation]:
    final: dict[str, memory_pb2.Operation] = {}
    for i in range(0, len(ids), 100):
        for msg in stub.WatchOperations(memory_pb2.WatchOperationsRequest(operation_ids=ids[i : i + 100]), timeout=900):
            final[msg.operation.id] = msg.operation
    return final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adds", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--backend", choices=["embedded", "falkordb+milvus"], default="embedded")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    r = random.Random(7)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-async-") as tmp, contextlib.ExitStack() as stack:
        env = backend_env(args.backend, Path(tmp), stack)
        server = stack.enter_context(ServerProcess(Path(tmp) / "data", env=env))
        channel = grpc.insecure_channel(server.address)
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        # warm-up (models, first writes), untimed
        warm = [(f"warm-{i % 5}", sentence(r)) for i in range(20)]
        burst(stub, warm, 2, memory_pb2.ADD_MODE_SYNC)

        texts = [(f"async-{i % args.users:03d}", sentence(r)) for i in range(args.adds)]
        t_start = time.time()
        ack, sent, ack_wall = burst(stub, texts, args.clients, memory_pb2.ADD_MODE_ASYNC)
        final = drain(stub, list(sent))
        drained = max(op.updated_at.ToDatetime(tzinfo=UTC).timestamp() for op in final.values()) - t_start
        applied = [(final[i].updated_at.ToDatetime(tzinfo=UTC).timestamp() - at) * 1000 for i, at in sent.items()]
        failed = sum(op.status != memory_pb2.OPERATION_STATUS_SUCCEEDED for op in final.values())

        sync_texts = [(f"sync-{i % args.users:03d}", sentence(r)) for i in range(args.adds)]
        sync, _, sync_wall = burst(stub, sync_texts, args.clients, memory_pb2.ADD_MODE_SYNC)
        channel.close()

    def row(name: str, xs: list[float]) -> str:
        return f"| {name} | {pct(xs, 50):.1f} | {pct(xs, 95):.1f} | {pct(xs, 99):.1f} | {max(xs):.1f} |"

    lines = [
        f"# Asynchronous Add under a burst ({args.backend})",
        "",
        *machine_lines(now),
        f"- `python -m bench.async_add --adds {args.adds} --clients {args.clients} --users {args.users} "
        f"--backend {args.backend}`: a burst of {args.adds} one-sentence Adds (infer=true) from {args.clients} "
        f"concurrent gRPC clients over {args.users} users; default server settings (2 async workers)",
        "",
        "| ms | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|",
        row("ASYNC acknowledgement", ack),
        row("ASYNC send -> applied", applied),
        row("SYNC Add (same burst, fresh users)", sync),
        "",
        f"- ASYNC: {args.adds} acknowledged in {ack_wall:.1f} s ({args.adds / ack_wall:.0f} Adds/s); the backlog "
        f"drained {drained:.1f} s after the first send ({args.adds / drained:.1f} Adds/s applied); "
        f"{failed} failed",
        f"- SYNC: {args.adds} Adds in {sync_wall:.1f} s ({args.adds / sync_wall:.1f} Adds/s)",
    ]
    out = args.out or RESULTS / f"async-add-{args.backend.replace('+', '-')}-{now:%Y-%m-%d}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
