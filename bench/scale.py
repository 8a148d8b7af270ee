"""How recalld's cost grows with the store: 1k -> 10k -> 100k memories, over real gRPC.

    python -m bench.scale [--sizes 1000,10000,100000] [--users 1000] [--samples 200] [--backend embedded]

One server process; the store grows in stages (synthetic first-person facts
spread over ``--users`` users, loaded by ``--clients`` concurrent clients in
Adds of 25 messages with extraction on). At each size: Add (one sentence)
latency and Search latency per mode (one request at a time), the bulk rate of
the stage's load, and the server's RSS. Then a bulk import of raw messages
(infer=false). Writes bench/results/scale-<backend>-<date>.md and a PNG plot of
latency against store size.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc

from bench.latency import QUERIES, backend_env, machine_lines, pct, rss_mb, sentence
from recalld.v1 import common_pb2, memory_pb2, memory_pb2_grpc
from tests.harness import ServerProcess

RESULTS = Path(__file__).parent / "results"
MODES = {"hybrid": memory_pb2.RETRIEVAL_MODE_HYBRID, "vector": memory_pb2.RETRIEVAL_MODE_VECTOR,
         "graph": memory_pb2.RETRIEVAL_MODE_GRAPH}  # fmt: skip


@dataclass
class Stage:
    size: int
    load_s: float
    loaded: int
    lat: dict[str, list[float]] = field(default_factory=dict)
    rss: float = 0.0


def run_clients(worker: Callable[[int], None], clients: int) -> float:
    """Run ``worker(k)`` for k in 0..clients-1 on threads; seconds until all finish."""
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def load_to(address: str, target: int, have: int, users: int, clients: int, seed: int) -> tuple[int, float]:
    """Add synthetic facts until ``target`` memories exist; returns (added, seconds)."""
    lock = threading.Lock()
    state = {"added": have, "batch": 0}

    def worker(k: int) -> None:
        r = random.Random(seed * 1000 + k)
        with grpc.insecure_channel(address) as ch:
            stub = memory_pb2_grpc.MemoryServiceStub(ch)
            while True:
                with lock:
                    if state["added"] >= target:
                        return
                    b = state["batch"]
                    state["batch"] += 1
                user = f"user-{(b * 7919 + k) % users:05d}"
                msgs = [memory_pb2.Message(role="user", content=sentence(r)) for _ in range(25)]
                resp = stub.Add(memory_pb2.AddRequest(scope=common_pb2.Scope(user_id=user), messages=msgs), timeout=120)
                with lock:
                    state["added"] += sum(1 for x in resp.results if x.event == memory_pb2.EVENT_ADD)

    return state["added"] - have, run_clients(worker, clients)


def measure(
    stub: memory_pb2_grpc.MemoryServiceStub, users: int, samples: int, r: random.Random
) -> dict[str, list[float]]:
    def scope() -> common_pb2.Scope:
        return common_pb2.Scope(user_id=f"user-{r.randrange(users):05d}")

    def timed(call: object) -> float:
        t = time.perf_counter()
        call()  # type: ignore[operator]
        return (time.perf_counter() - t) * 1000

    for _ in range(20):
        stub.Search(memory_pb2.SearchRequest(scope=scope(), query=r.choice(QUERIES)))
    out: dict[str, list[float]] = {"add": []}
    for i in range(samples):
        req = memory_pb2.AddRequest(
            scope=scope(), messages=[memory_pb2.Message(role="user", content=f"{sentence(r)} Ref {i}.")]
        )
        out["add"].append(timed(lambda req=req: stub.Add(req)))
    for name, mode in MODES.items():
        out[name] = []
        for _ in range(samples):
            req = memory_pb2.SearchRequest(scope=scope(), query=r.choice(QUERIES), mode=mode)
            out[name].append(timed(lambda req=req: stub.Search(req)))
    return out


def raw_import(address: str, n: int, clients: int) -> float:
    """messages/s for infer=false imports (Adds of 50 messages)."""
    per = n // clients

    def worker(k: int) -> None:
        r = random.Random(99 + k)
        with grpc.insecure_channel(address) as ch:
            stub = memory_pb2_grpc.MemoryServiceStub(ch)
            for b in range(per // 50):
                msgs = [memory_pb2.Message(role="user", content=f"{sentence(r)} Raw {k}-{b}-{i}.") for i in range(50)]
                stub.Add(
                    memory_pb2.AddRequest(
                        scope=common_pb2.Scope(user_id=f"raw-{k}-{b % 10}"), messages=msgs, infer=False
                    ),
                    timeout=120,
                )

    return (per // 50) * 50 * clients / run_clients(worker, clients)


def plot(stages: list[Stage], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    sizes = [s.size for s in stages]
    for i, name in enumerate(("add", *MODES)):
        color = f"C{i}"
        ax.plot(sizes, [pct(s.lat[name], 50) for s in stages], marker="o", color=color, label=f"{name} p50")
        ax.plot(
            sizes, [pct(s.lat[name], 95) for s in stages], marker="x", linestyle="--", color=color, label=f"{name} p95"
        )
    ax.set_xscale("log")
    ax.set_xlabel("memories in the store")
    ax.set_ylabel("latency over gRPC (ms)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--clients", type=int, default=2, help="concurrent clients while loading")
    ap.add_argument("--backend", choices=("embedded", "falkordb+milvus"), default="embedded")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    r = random.Random(11)
    stages: list[Stage] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        env = backend_env(args.backend, Path(tmp), stack)
        server = stack.enter_context(ServerProcess(Path(tmp) / "data", env=env))
        ch = stack.enter_context(grpc.insecure_channel(server.address))
        stub = memory_pb2_grpc.MemoryServiceStub(ch)
        have = 0
        for size in sizes:
            added, secs = load_to(server.address, size, have, args.users, args.clients, seed=size)
            have += added
            stage = Stage(size=size, load_s=secs, loaded=added)
            stage.lat = measure(stub, args.users, args.samples, r)
            have += args.samples  # the Add samples are memories too
            stage.rss = rss_mb(server.pid)
            stages.append(stage)
            summary = ", ".join(f"{k} p50 {pct(v, 50):.1f} p95 {pct(v, 95):.1f}" for k, v in stage.lat.items())
            print(f"{size}: loaded {added} in {secs:.1f}s; {summary}", flush=True)
        raw_rate = raw_import(server.address, 4000, args.clients)

    now = datetime.now(UTC)
    stem = f"scale-{args.backend.replace('+', '-')}-{now:%Y-%m-%d}"
    RESULTS.mkdir(exist_ok=True)
    png = RESULTS / f"{stem}.png"
    plot(stages, png, f"recalld ({args.backend}), {args.users} users")
    lines = [
        f"# recalld at 1k-100k memories ({args.backend})",
        "",
        *machine_lines(now),
        f"- command: `python -m bench.scale --sizes {args.sizes} --users {args.users} --samples {args.samples}"
        f" --clients {args.clients} --backend {args.backend}`",
        f"- data: synthetic first-person facts over {args.users} users; loaded by {args.clients} concurrent "
        "clients in Adds of 25 messages (extraction on); latency measured one request at a time",
        "",
        "| memories | op | p50 ms | p95 ms | p99 ms | throughput (1 client) /s |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for s in stages:
        for name, v in s.lat.items():
            mean = sum(v) / len(v)
            lines.append(
                f"| {s.size} | {name} | {pct(v, 50):.1f} | {pct(v, 95):.1f} | {pct(v, 99):.1f} | {1000 / mean:.0f} |"
            )
    lines += ["", "| memories | load rate memories/s | server RSS MB |", "|---:|---:|---:|"]
    lines += [f"| {s.size} | {s.loaded / s.load_s:.0f} | {s.rss:.0f} |" for s in stages]
    first, last = stages[0], stages[-1]
    lines += [
        "",
        f"- growth {first.size} -> {last.size}: "
        + ", ".join(f"{k} p95 x{pct(last.lat[k], 95) / pct(first.lat[k], 95):.2f}" for k in first.lat),
        f"- bulk import of raw messages (infer=false, Adds of 50, {args.clients} clients): {raw_rate:.0f} messages/s",
        f"- plot: `{png.name}`",
    ]
    out = RESULTS / f"{stem}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
