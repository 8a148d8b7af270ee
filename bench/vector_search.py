"""The vector stage of a hybrid Search, alone: CPU per search, this tree beside a baseline.

    python -m bench.vector_search [--baseline REV] [--queries 160] [--repeats 5] [--rounds 2] [--out PATH]
    python -m bench.vector_search loop [--seconds 30]      # searches in a loop, to attach py-spy

What it times: ``VectorStore.search`` as the retriever calls it (the query's MiniLM vector, the
user's scope, the current-validity filter, ``vector_candidates`` = 50 hits) on the embedded default
store, built by the code version's own ``recalld.server.app._vector_store`` from default settings
(Milvus Lite in a child process, FLAT, 64 user buckets, flush every 256 rows), one search at a time.
Two CPU figures per search: the server process (``time.process_time``: pymilvus and the gRPC
channel, every thread) and the Milvus Lite child (the sum of ``/proc/<pid>/task/*/schedstat``
run times, nanosecond resolution, every thread). Per query: one warm-up call, then the median of
``--repeats`` calls; per version the least of ``--rounds`` replays (alternated, each a fresh
process on a fresh copy of the data), then the median and p95 over the queries.

Inputs are real: ``capture`` embeds ``--queries`` (scope, question) pairs of bench.busy's
workload (a fixed random sample: LoCoMo dev questions of the scope's own conversation) with the
default embedder; the searches run on a copy of the Milvus Lite data bench.busy seeded
(bench/.work/busy-seed-*, the newest; never modified). ``--baseline`` is a git worktree under
bench/.work/, its sources first on PYTHONPATH, as bench.walks runs one. Every query's hits of the
two versions are compared: ids in order, scores to 1e-6. Any mismatch is printed and fails the run.

Writes bench/results/vector-search-<date>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.checkout import ROOT, WORK, newest_seed, sources_path, uncommitted, write_report
from bench.locomo import percentile

RESULTS = ROOT / "bench" / "results"
CAPTURE = WORK / "vector-search-queries.json"
CANDIDATES = 50  # recalld.core.settings.SearchSettings.vector_candidates


def _source() -> Path:
    """The Milvus Lite data the queries were captured against (copied, never opened in place)."""
    return ROOT / json.loads(CAPTURE.read_text())["source"] / "milvus.db"


def _capture(queries: int, seed: int) -> dict[str, Any]:
    from bench.busy import DATA, workload
    from bench.locomo import load_conversations
    from recalld.vector.embedders import MiniLMOnnxEmbedder

    work = workload(load_conversations(DATA), 4, random.Random(1))
    picked = random.Random(seed).sample(work.questions, queries)
    vectors = MiniLMOnnxEmbedder().embed_sync([q for _, q in picked])
    return {
        "source": str(newest_seed().relative_to(ROOT)),
        "queries": [
            {"user": u, "question": q, "vector": [float(x) for x in v]}
            for (u, q), v in zip(picked, vectors, strict=True)
        ],
    }


# -- one code version: open the store as the server does, time its searches ---------------------------------------


def child_cpu_ns(pid: int | None) -> int:
    """CPU time of every thread of ``pid`` (nanoseconds; /proc's utime/stime count 10 ms ticks)."""
    if pid is None:
        return 0
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total


async def _open(data: Path) -> Any:
    from recalld.kernel.domain import DEFAULT_TENANT
    from recalld.server.app import _vector_store
    from recalld.server.environment import load_settings

    settings = load_settings({"RECALLD_DATA_DIR": str(data)})
    store = _vector_store(settings, DEFAULT_TENANT, 384)
    await store.open()
    return store


def _lite_pid(store: Any) -> int | None:
    lite = getattr(store, "_lite", None)
    return None if lite is None else lite.pid


async def _replay(data: Path, repeats: int, limit: int) -> dict[str, Any]:
    from recalld.kernel.domain import Scope

    queries = json.loads(CAPTURE.read_text())["queries"]
    store = await _open(data)
    pid = _lite_pid(store)
    server_ms: list[float] = []
    lite_ms: list[float] = []
    answers: list[list[list[Any]]] = []
    try:
        for q in queries:
            scope, vec = Scope(q["user"]), q["vector"]
            hits = await store.search(vec, scope, limit)  # warm-up, and the answer compared
            answers.append([[h.id, h.score] for h in hits])
            s_runs, l_runs = [], []
            for _ in range(repeats):
                c0, t0 = child_cpu_ns(pid), time.process_time()
                await store.search(vec, scope, limit)
                t1, c1 = time.process_time(), child_cpu_ns(pid)
                s_runs.append(1000 * (t1 - t0))
                l_runs.append((c1 - c0) / 1e6)
            server_ms.append(statistics.median(s_runs))
            lite_ms.append(statistics.median(l_runs))
    finally:
        await store.close()
    code = Path(str(sys.modules[type(store).__module__].__file__)).parents[3]
    return {
        "server_ms": server_ms,
        "lite_ms": lite_ms,
        "answers": answers,
        "code": str(code.relative_to(ROOT.parent)),
        "lite_pid": pid,
    }


async def _loop(seconds: float, limit: int) -> None:
    """Searches over the captured queries, round and round, for ``seconds`` (attach py-spy)."""
    from recalld.kernel.domain import Scope

    queries = json.loads(CAPTURE.read_text())["queries"]
    with tempfile.TemporaryDirectory(prefix="vector-search-") as t:
        data = Path(t) / "data"
        data.mkdir()
        shutil.copytree(_source(), data / "milvus.db")
        store = await _open(data)
        print(json.dumps({"server_pid": os.getpid(), "lite_pid": _lite_pid(store)}), flush=True)
        n, c0, t0 = 0, child_cpu_ns(_lite_pid(store)), time.process_time()
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                for q in queries:
                    await store.search(q["vector"], Scope(q["user"]), limit)
                    n += 1
        finally:
            server = 1000 * (time.process_time() - t0) / max(1, n)
            lite = (child_cpu_ns(_lite_pid(store)) - c0) / 1e6 / max(1, n)
            await store.close()
        print(json.dumps({"searches": n, "server_ms": round(server, 3), "lite_ms": round(lite, 3)}), flush=True)


# -- compare and report -------------------------------------------------------------------------------------------


Answers = Sequence[Sequence[Sequence[Any]]]  # per query, [id, score] per hit


def compare(before: Answers, after: Answers, tol: float = 1e-6) -> list[str]:
    """Differences between two versions' hits: the ids in order, the scores to ``tol``."""
    if len(before) != len(after):
        return [f"{len(before)} answers before, {len(after)} after"]
    problems = []
    for q, (a, b) in enumerate(zip(before, after, strict=True)):
        if [h[0] for h in a] != [h[0] for h in b]:
            problems.append(f"query {q}: ids differ ({len(a)} hits before, {len(b)} after)")
        elif any(abs(x[1] - y[1]) > tol for x, y in zip(a, b, strict=True)):
            worst = max(abs(x[1] - y[1]) for x, y in zip(a, b, strict=True))
            problems.append(f"query {q}: scores differ by up to {worst:.3g}")
    return problems


def _run_replay(code: Path | None, tmp: Path, label: str, repeats: int, limit: int) -> dict[str, Any]:
    data = tmp / label
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    shutil.copytree(_source(), data / "milvus.db")
    out_file = tmp / f"{label}.json"
    env = dict(os.environ)
    if code is not None:  # the other checkout's sources first on the path (bench.busy.server_env)
        env["PYTHONPATH"] = sources_path(code)
    cmd = [sys.executable, "-m", "bench.vector_search", "replay", "--data", str(data), "--answers", str(out_file)]
    cmd += ["--repeats", str(repeats), "--limit", str(limit)]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    out: dict[str, Any] = json.loads(out_file.read_text())
    shutil.rmtree(data, ignore_errors=True)
    return out


def _least(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per query, the least of the rounds' figures (each a median of repeats). The answers must
    agree across rounds."""
    first = runs[0]
    if problems := [p for r in runs[1:] for p in compare(first["answers"], r["answers"], tol=0.0)]:
        raise SystemExit(f"{first['code']}: the rounds answered differently: {problems[:3]}")
    return {
        **first,
        **{k: [min(xs) for xs in zip(*(r[k] for r in runs), strict=True)] for k in ("server_ms", "lite_ms")},
    }


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="run", choices=("run", "capture", "replay", "loop"))
    ap.add_argument("--baseline", default="aa18d57", help="the commit compared with this tree")
    ap.add_argument("--queries", type=int, default=160)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="replays of each version, alternated")
    ap.add_argument("--limit", type=int, default=CANDIDATES, help="hits asked for per search")
    ap.add_argument("--seconds", type=float, default=30.0, help="loop: how long")
    ap.add_argument("--recapture", action="store_true", help="embed the queries again")
    ap.add_argument("--data", type=Path)
    ap.add_argument("--answers", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.command == "replay":
        args.answers.write_text(json.dumps(asyncio.run(_replay(args.data, args.repeats, args.limit))))
        return
    if args.command == "capture" or args.recapture or not CAPTURE.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        CAPTURE.write_text(json.dumps(_capture(args.queries, seed=25)))
        print(f"captured {args.queries} query vectors", flush=True)
        if args.command == "capture":
            return
    if args.command == "loop":
        asyncio.run(_loop(args.seconds, args.limit))
        return
    from bench.busy import worktree
    from bench.latency import machine_lines

    now = datetime.now(UTC)
    captured = json.loads(CAPTURE.read_text())
    with tempfile.TemporaryDirectory(prefix="vector-search-") as t:
        tmp = Path(t)
        base = worktree(args.baseline)
        rounds = []
        for _ in range(args.rounds):  # alternated: a load that comes and goes weighs on both alike
            before = _run_replay(base, tmp, "before", args.repeats, args.limit)
            rounds.append((before, _run_replay(None, tmp, "after", args.repeats, args.limit)))
        before, after = (_least([r[k] for r in rounds]) for k in (0, 1))
    problems = compare(before["answers"], after["answers"])
    for p in problems[:20]:
        print(p)
    hits = sum(len(a) for a in after["answers"])
    lines = [
        "# The vector stage of a hybrid Search: CPU per search, embedded store",
        "",
        *machine_lines(now),
        f"- command: `python -m bench.vector_search {' '.join(sys.argv[1:] if argv is None else argv)}`",
        f"- data: {len(captured['queries'])} LoCoMo dev questions (each of its own scope), embedded with the default "
        f"MiniLM embedder; searched on a copy of {captured['source']}/milvus.db (12 scopes of ~1,300 memories, "
        "64 user buckets)",
        f"- measured: `VectorStore.search(vector, Scope(user), {args.limit})` (current validity) on the store as "
        "`recalld.server.app` builds it by default (Milvus Lite in a child process, FLAT), one search at a time; "
        "CPU of the server process (`time.process_time`, every thread) and of the Milvus Lite child (sum of "
        f"/proc/<pid>/task/*/schedstat); per query the median of {args.repeats} warm calls, per version the least "
        f"of {args.rounds} alternated rounds (fresh process, fresh copy), then the median and p95 over the queries",
        f"- code: before = {before['code']} (its sources first on PYTHONPATH), "
        f"after = {after['code']}{uncommitted('vector', 'services')}",
        "",
        "| code | server median ms | server p95 ms | Lite child median ms | Lite child p95 ms | total median ms "
        "| total p95 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, run in ((f"{args.baseline} (before)", before), ("this tree", after)):
        s, lite = run["server_ms"], run["lite_ms"]
        tot = [a + b for a, b in zip(s, lite, strict=True)]
        lines.append(
            f"| {label} | {percentile(s, 50):.2f} | {percentile(s, 95):.2f} | {percentile(lite, 50):.2f} | "
            f"{percentile(lite, 95):.2f} | {percentile(tot, 50):.2f} | {percentile(tot, 95):.2f} |"
        )
    lines += [
        "",
        f"Equivalence: {len(after['answers'])} queries, {hits} hits compared (ids in order, scores to 1e-6): "
        f"{len(problems)} mismatches.",
    ]
    out = args.out or RESULTS / f"vector-search-{now:%Y-%m-%d}.md"
    write_report(lines, out, failed=bool(problems))


if __name__ == "__main__":
    main()
