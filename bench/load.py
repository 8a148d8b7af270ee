"""Many clients at once: 32 concurrent clients, 80 % Search / 20 % Add, on scopes of ~1,400 memories.

    python -m bench.load [--clients 32] [--seconds 60] [--users 8] [--per-user 1400]
                         [--backend embedded|falkordb+milvus] [--workers 1] [--max-concurrent 4]
                         [--max-queued 64]

A real `recalld serve` (``--workers`` processes sharing the port on the production backends).
Seed: ``--users`` scopes of ``--per-user`` distinct first-person facts each (extraction on).
Then ``--clients`` threads, each with its own gRPC channel (so connections spread over the
workers), loop for ``--seconds``: 80 % Search (a question about the user's facts, limit 10),
20 % Add (one new sentence, extraction on), random user, no think time, no client retries.
RESOURCE_EXHAUSTED answers (admission control) are counted apart. Writes
bench/results/load-<backend>-w<workers>-<date>.md (or --out).
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

from bench.latency import RESULTS, backend_env, machine_lines, pct, tree_rss_mb
from bench.peruser import QUERIES, fact
from recalld.client import Recalld, RecalldError
from tests.harness import ServerProcess, free_port


def seed(address: str, users: int, per_user: int, clients: int = 2) -> float:
    """Load every user's scope (``clients`` threads); memories/s."""
    todo = [(u, start) for u in range(users) for start in range(0, per_user, 50)]
    lock = threading.Lock()
    t0 = time.perf_counter()

    def worker() -> None:
        r = random.Random()
        with Recalld(address, timeout=600) as c:
            while True:
                with lock:
                    if not todo:
                        return
                    u, start = todo.pop()
                n = min(50, per_user - start)
                # offset the name index per user so scopes differ
                c.add([fact(u * 100_000 + start + j, r) for j in range(n)], user_id=f"user-{u:02d}")

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return users * per_user / (time.perf_counter() - t0)


Latencies = dict[str, list[float]]


def drive(address: str, clients: int, seconds: float, users: int) -> tuple[Latencies, dict[str, int], float]:
    lat: dict[str, list[float]] = {"search": [], "add": []}
    counts = {"rejected": 0, "errors": 0}
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(n: int) -> None:
        r = random.Random(1000 + n)
        with Recalld(address, timeout=60) as c:
            c.search("warm up", user_id="user-00")
            start.wait()
            i = 0
            while time.monotonic() < deadline[0]:
                user = f"user-{r.randrange(users):02d}"
                kind = "search" if r.random() < 0.8 else "add"
                t0 = time.perf_counter()
                try:
                    if kind == "search":
                        c.search(r.choice(QUERIES), user_id=user, limit=10)
                    else:
                        c.add(fact(9_000_000 + n * 10_000 + i, r), user_id=user)
                        i += 1
                except RecalldError as exc:
                    with lock:
                        if exc.code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                            counts["rejected"] += 1
                        else:
                            counts["errors"] += 1
                            errors.append(f"{exc.code}: {exc}")
                    continue
                with lock:
                    lat[kind].append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + seconds
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        print("errors:", *sorted(set(errors))[:5], sep="\n  ")
    return lat, counts, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--per-user", type=int, default=1400)
    ap.add_argument("--backend", choices=("embedded", "falkordb+milvus"), default="embedded")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--max-concurrent", type=int, default=4)
    ap.add_argument("--max-queued", type=int, default=64)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        env = backend_env(a.backend, Path(tmp), stack) | {
            "RECALLD_WORKERS": str(a.workers),
            "RECALLD_MAX_CONCURRENT_RPCS": str(a.max_concurrent),
            "RECALLD_MAX_QUEUED_RPCS": str(a.max_queued),
            "RECALLD_RECONCILE_INTERVAL_S": "5",
        }
        if a.workers > 1:
            env["RECALLD_LISTEN"] = f"127.0.0.1:{free_port()}"
        server = stack.enter_context(ServerProcess(Path(tmp) / "data", env=env))
        load_rate = seed(server.address, a.users, a.per_user)
        print(f"seeded {a.users} x {a.per_user} at {load_rate:.0f} memories/s", flush=True)
        lat, counts, wall = drive(server.address, a.clients, a.seconds, a.users)
        rss = tree_rss_mb(server.pid)
    s, w = lat["search"], lat["add"]
    lines = [
        f"# {a.clients} concurrent clients, 80/20 Search/Add ({a.backend}, {a.workers} worker(s))",
        "",
        *machine_lines(now),
        f"- command: `python -m bench.load --clients {a.clients} --seconds {a.seconds:g} --users {a.users}"
        f" --per-user {a.per_user} --backend {a.backend} --workers {a.workers} --max-concurrent {a.max_concurrent}"
        f" --max-queued {a.max_queued}`",
        f"- data: {a.users} scopes of {a.per_user} distinct first-person facts (extraction on), seeded at"
        f" {load_rate:.0f} memories/s",
        f"- load: {a.clients} client threads in one process, each its own channel, no think time, no retries,"
        f" for {wall:.0f} s",
        "",
        "| op | count | per s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, xs in (("Search", s), ("Add", w)):
        if xs:
            p50, p95, p99 = (pct(xs, q) for q in (50, 95, 99))
            lines.append(f"| {name} | {len(xs)} | {len(xs) / wall:.1f} | {p50:.0f} | {p95:.0f} | {p99:.0f} |")
    lines += [
        "",
        f"- RESOURCE_EXHAUSTED (admission control): {counts['rejected']}; other errors: {counts['errors']}",
        f"- server RSS (supervisor + workers): {rss:.0f} MB",
    ]
    out = a.out or RESULTS / f"load-{a.backend}-w{a.workers}-{now:%Y-%m-%d}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
