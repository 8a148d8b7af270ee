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

from bench.latency import QUERIES, backend_env, machine_lines, pct, sentence, tree_rss_mb
from bench.metrics import breakdown_section, call_seconds, hot_functions, per_search, profile
from recalld.client import Mode, Recalld
from tests.harness import ServerProcess, free_port

RESULTS = Path(__file__).parent / "results"
MODES: tuple[Mode, ...] = ("hybrid", "vector", "graph")


@dataclass
class Stage:
    size: int
    load_s: float
    loaded: int
    lat: dict[str, list[float]] = field(default_factory=dict)
    rss: float = 0.0
    breakdown: dict[str, tuple[float, float]] = field(default_factory=dict)  # call -> (per Search, mean ms)


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
        with Recalld(address) as client:
            while True:
                with lock:
                    if state["added"] >= target:
                        return
                    b = state["batch"]
                    state["batch"] += 1
                user = f"user-{(b * 7919 + k) % users:05d}"
                result = client.add([sentence(r) for _ in range(25)], user_id=user, timeout=120)
                with lock:
                    state["added"] += len(result.added)

    secs = run_clients(worker, clients)  # before reading the count: a tuple evaluates left to right
    return state["added"] - have, secs


def measure(
    client: Recalld, users: int, samples: int, r: random.Random, metrics: str = ""
) -> tuple[dict[str, list[float]], dict[str, tuple[float, float]]]:
    """Latency per op, and where the hybrid Searches' time went (from ``metrics``, the server's
    /metrics URL)."""

    def user() -> str:
        return f"user-{r.randrange(users):05d}"

    def timed(call: object) -> float:
        t = time.perf_counter()
        call()  # type: ignore[operator]
        return (time.perf_counter() - t) * 1000

    for _ in range(20):
        client.search(r.choice(QUERIES), user_id=user())
    out: dict[str, list[float]] = {"add": []}
    for i in range(samples):
        text, uid = f"{sentence(r)} Ref {i}.", user()
        out["add"].append(timed(lambda text=text, uid=uid: client.add(text, user_id=uid)))
    breakdown: dict[str, tuple[float, float]] = {}
    for mode in MODES:
        out[mode] = []
        before = call_seconds(metrics) if metrics and mode == "hybrid" else {}
        for _ in range(samples):
            query, uid = r.choice(QUERIES), user()
            out[mode].append(timed(lambda q=query, u=uid, m=mode: client.search(q, user_id=u, mode=m)))
        if metrics and mode == "hybrid":
            breakdown = per_search(before, call_seconds(metrics), samples)
    return out, breakdown


def profiled_searches(
    client: Recalld, pid: int, users: int, seconds: float, folded: Path, r: random.Random
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """py-spy on the server while one client sends hybrid Searches for ``seconds``."""
    spy = profile(pid, seconds, folded)
    time.sleep(1.0)  # attached
    end = time.monotonic() + seconds - 1.5
    while time.monotonic() < end:
        client.search(r.choice(QUERIES), user_id=f"user-{r.randrange(users):05d}")
    spy.wait(timeout=seconds + 60)
    return hot_functions(folded) if folded.exists() else ([], [])


def raw_import(address: str, n: int, clients: int) -> float:
    """messages/s for infer=false imports (Adds of 50 messages)."""
    per = n // clients

    def worker(k: int) -> None:
        r = random.Random(99 + k)
        with Recalld(address) as client:
            for b in range(per // 50):
                msgs = [f"{sentence(r)} Raw {k}-{b}-{i}." for i in range(50)]
                client.add(msgs, user_id=f"raw-{k}-{b % 10}", infer=False, timeout=120)

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
    ap.add_argument("--profile", type=float, default=30.0, help="seconds of py-spy on hybrid Searches at the end")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    r = random.Random(11)
    stages: list[Stage] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        metrics_at = f"127.0.0.1:{free_port()}"
        env = {**backend_env(args.backend, Path(tmp), stack), "RECALLD_METRICS_LISTEN": metrics_at}
        metrics = f"http://{metrics_at}/metrics"
        server = stack.enter_context(ServerProcess(Path(tmp) / "data", env=env))
        client = stack.enter_context(Recalld(server.address))
        have = 0
        for size in sizes:
            added, secs = load_to(server.address, size, have, args.users, args.clients, seed=size)
            have += added
            stage = Stage(size=size, load_s=secs, loaded=added)
            stage.lat, stage.breakdown = measure(client, args.users, args.samples, r, metrics)
            have += args.samples  # the Add samples are memories too
            stage.rss = tree_rss_mb(server.pid)  # every recalld process: the server and its children
            stages.append(stage)
            summary = ", ".join(f"{k} p50 {pct(v, 50):.1f} p95 {pct(v, 95):.1f}" for k, v in stage.lat.items())
            print(f"{size}: loaded {added} in {secs:.1f}s; {summary}", flush=True)
        now = datetime.now(UTC)
        stem = f"scale-{args.backend.replace('+', '-')}-{now:%Y-%m-%d}"
        folded = RESULTS / f"{stem}-profile.folded"
        hot = profiled_searches(client, server.pid, args.users, args.profile, folded, r) if args.profile else ([], [])
        raw_rate = raw_import(server.address, 4000, args.clients)

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
    lines += ["", "| memories | load rate memories/s | RSS MB, all recalld processes |", "|---:|---:|---:|"]
    lines += [f"| {s.size} | {s.loaded / s.load_s:.0f} | {s.rss:.0f} |" for s in stages]
    first, last = stages[0], stages[-1]
    lines += [
        "",
        f"- growth {first.size} -> {last.size}: "
        + ", ".join(f"{k} p95 x{pct(last.lat[k], 95) / pct(first.lat[k], 95):.2f}" for k in first.lat),
        f"- bulk import of raw messages (infer=false, Adds of 50, {args.clients} clients): {raw_rate:.0f} messages/s",
        f"- plot: `{png.name}`",
        "",
        *breakdown_section(((str(st.size), st.breakdown) for st in stages), "each size's hybrid Searches"),
    ]
    inclusive, own = hot
    if inclusive:
        lines += [
            "",
            f"## Profile: py-spy, {args.profile:.0f} s of hybrid Searches (one client) at {last.size} memories",
            "",
            f"Every server thread sampled at 100 Hz; collapsed stacks in `{folded.name}`. Shares of the samples "
            "in which a thread was working: recalld's functions with what they called (inclusive), and every "
            "function's own code (self).",
            "",
            "| recalld function | inclusive | | function | self |",
            "|---|---:|---|---|---:|",
            *(f"| `{a}` | {ia:.0%} | | `{b}` | {sb:.0%} |" for (a, ia), (b, sb) in zip(inclusive, own, strict=False)),
        ]
    out = RESULTS / f"{stem}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
