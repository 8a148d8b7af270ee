"""The graph walk stage of a hybrid Search, alone: CPU per Search, this tree beside a baseline.

    python -m bench.walks [--baseline REV] [--queries 96] [--repeats 5] [--rounds 3] [--out PATH]

What it times: ``HybridRetriever._graph_candidates`` (recalld.core.retrieval), the stage between
the vector search and fusion: the seed entities' memory entities, ``GraphStore.expand`` (the
walks), walk scoring, and personalized PageRank over the walked subgraph, on the embedded store,
in one process, one Search at a time (the store's own thread does the walking; nothing else runs).
CPU is ``time.process_time`` around the awaited stage, after one warm-up call per query (the
server's mirrors and adjacency lists are warm in steady state), the median of ``--repeats`` calls
per query, the least of ``--rounds`` alternated replays (another process on a 2-core machine
slows both versions' CPU time, not alike unless alternated); the report gives the median and p95
over the queries, and each stage's thread CPU from a second pass with the stage functions timed.

Inputs are real: ``capture`` runs full hybrid Searches in this process (spaCy query analysis,
MiniLM embedding, Milvus Lite) on a copy of the LoCoMo scopes bench.busy seeded (bench/.work/
busy-seed-*, the newest) for ``--queries`` (scope, question) pairs of bench.busy's workload (a
fixed random sample: LoCoMo dev questions of the scope's own conversation), and records what
each Search handed the walk stage (the scope, linked names, query terms, vector hits). The replay
runs the same inputs through this tree and through ``--baseline`` (a git worktree under
bench/.work/, its sources first on PYTHONPATH, as bench.busy runs a baseline), each in its own
process on its own copy of the graph database, and compares what the stage returned for every
query: each candidate memory, its score (to 1e-9) and its explanation (the walks kept, edge by
edge). Any mismatch is printed and fails the run.

Writes bench/results/walks-<date>.md.
"""

from __future__ import annotations

import argparse
import asyncio
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
from recalld.kernel.requests import SearchQuery

RESULTS = ROOT / "bench" / "results"
CAPTURE = WORK / "walks-capture.json"
GRAPH_DB = WORK / "walks-graph.db"


# -- capture: real Searches record the walk stage's inputs -------------------------------------------------------


async def _capture(queries: int, seed: int) -> dict[str, Any]:
    from bench.busy import DATA, workload
    from bench.locomo import load_conversations
    from recalld.kernel.domain import Scope
    from recalld.server.app import build_app
    from recalld.server.environment import load_settings

    source = newest_seed()
    work = workload(load_conversations(DATA), 4, random.Random(1))
    picked = random.Random(seed).sample(work.questions, queries)
    with tempfile.TemporaryDirectory(prefix="walks-") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(source, data)
        settings = load_settings(
            {
                "RECALLD_DATA_DIR": str(data),
                "RECALLD_MODEL_PROCESS": "false",
                "RECALLD_RECONCILE_INTERVAL_S": "0",
                "RECALLD_PRUNE_INTERVAL_S": "0",
            }
        )
        app = build_app(settings)
        await app.start()
        try:
            tenant = await app.tenant("default")
            retriever = tenant.retriever
            original = retriever._graph_candidates
            seen: list[dict[str, Any]] = []

            async def recording(scope, linked, terms, vector_hits, validity):  # type: ignore[no-untyped-def]
                seen.append(
                    {
                        "scope": [scope.user_id, scope.agent_id, scope.run_id, scope.exact],
                        "linked": list(linked),
                        "terms": list(terms),
                        "vector_hits": [[h.id, h.score] for h in vector_hits],
                    }
                )
                return await original(scope, linked, terms, vector_hits, validity)

            retriever._graph_candidates = recording  # type: ignore[method-assign]
            out = []
            for user, question in picked:
                seen.clear()
                await retriever.search(SearchQuery(Scope(user), question))
                out += [{"question": question, **s} for s in seen]
            graph_db = data / "graph.db"
        finally:
            await app.close()
        shutil.copyfile(graph_db, GRAPH_DB)
    return {"source": str(source.relative_to(ROOT)), "settings": "defaults", "inputs": out}


# -- replay: one code version times the stage and reports what it returned ---------------------------------------


def _explained(cand: Any) -> list[list[Any]]:
    """A candidate's explanation, version-agnostic: [score, start, [[s, p, o, memory], ...]] per walk."""
    walks = cand.explanation() if hasattr(cand, "explanation") else cand.walks
    return [[s, w.start, [[e.subject, e.predicate, e.object, e.memory_id] for e in w.edges]] for s, w in walks]


STAGES = ("expand", "scoring", "pagerank")


def _stage_timers(store: Any, retrieval: Any, spent: dict[str, float]) -> None:
    """Wrap the stage functions (whichever this code version has) so that each adds its thread's
    CPU time to ``spent``: the store's walk (it runs on the store's thread), walk scoring, and the
    PageRank steps (the bipartite edge list, the power iteration, the memory scores)."""

    def timed(stage: str, fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[stage] += 1000 * (time.thread_time() - t0)

        return call

    walker = "_walks_sync" if hasattr(store, "_walks_sync") else "_expand_sync"
    setattr(store, walker, timed("expand", getattr(store, walker)))
    retrieval.score_walks = timed("scoring", retrieval.score_walks)
    for name in ("bipartite_edges", "personalized_pagerank", "memory_scores"):
        setattr(retrieval, name, timed("pagerank", getattr(retrieval, name)))


async def _replay(capture: Path, graph_db: Path, repeats: int, results: Path | None) -> dict[str, Any]:
    from typing import cast

    from recalld.core import retrieval
    from recalld.core.retrieval import HybridRetriever
    from recalld.core.settings import Limits, SearchSettings
    from recalld.graph.embedded import EmbeddedGraphStore
    from recalld.kernel.domain import CURRENT, Scope
    from recalld.kernel.ports import Embedder, Extractor, VectorHit, VectorStore

    inputs = json.loads(capture.read_text())["inputs"]
    store = EmbeddedGraphStore(path=graph_db)
    await store.open()
    retriever = HybridRetriever(
        graph=store,
        vector=cast(VectorStore, None),
        embedder=cast(Embedder, None),
        extractor=cast(Extractor, None),
        settings=SearchSettings(),
        limits=Limits(),
    )
    cpu_ms: list[float] = []
    stage_ms: dict[str, list[float]] = {k: [] for k in STAGES}
    answers: list[dict[str, Any]] = []
    calls = []
    try:
        for item in inputs:
            scope = Scope(*item["scope"])
            hits = [VectorHit(i, s) for i, s in item["vector_hits"]]
            calls.append((scope, item["linked"], item["terms"], hits, CURRENT))
        for args in calls:  # the whole stage, unwrapped
            cands = await retriever._graph_candidates(*args)  # warm-up (and the answer compared)
            runs = []
            for _ in range(repeats):
                t0 = time.process_time()
                await retriever._graph_candidates(*args)
                runs.append(1000 * (time.process_time() - t0))
            cpu_ms.append(statistics.median(runs))
            if results is not None:
                answers.append({m: [c.score, _explained(c)] for m, c in sorted(cands.items())})
        spent = dict.fromkeys(STAGES, 0.0)
        _stage_timers(store, retrieval, spent)
        for args in calls:  # its parts, in a second pass with the parts timed
            per: dict[str, list[float]] = {k: [] for k in STAGES}
            for _ in range(repeats):
                spent.update(dict.fromkeys(STAGES, 0.0))
                await retriever._graph_candidates(*args)
                for k in STAGES:
                    per[k].append(spent[k])
            for k in STAGES:
                stage_ms[k].append(statistics.median(per[k]))
    finally:
        await store.close()
    if results is not None:
        results.write_text(json.dumps(answers))
    code = str(Path(str(sys.modules[HybridRetriever.__module__].__file__)).parents[3].relative_to(ROOT.parent))
    return {"cpu_ms": cpu_ms, "stage_ms": stage_ms, "code": code}


# -- compare -----------------------------------------------------------------------------------------------------


def compare(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]], tol: float = 1e-9) -> list[str]:
    """Differences between two replays' answers: candidates, scores (to ``tol``), explanations."""
    problems: list[str] = []
    if len(before) != len(after):
        return [f"{len(before)} answers before, {len(after)} after"]
    for q, (a, b) in enumerate(zip(before, after, strict=True)):
        if a.keys() != b.keys():
            problems.append(f"query {q}: candidates differ ({len(a.keys() ^ b.keys())} not in both)")
            continue
        for m in a:
            (sa, wa), (sb, wb) = a[m], b[m]
            if abs(sa - sb) > tol:
                problems.append(f"query {q} memory {m}: score {sa!r} before, {sb!r} after")
            elif len(wa) != len(wb) or any(
                x[1:] != y[1:] or abs(x[0] - y[0]) > tol for x, y in zip(wa, wb, strict=True)
            ):
                problems.append(f"query {q} memory {m}: explanation differs")
    return problems


def _run_replay(code: Path | None, tmp: Path, label: str, repeats: int) -> dict[str, Any]:
    db = tmp / f"{label}.db"
    shutil.copyfile(GRAPH_DB, db)
    answers = tmp / f"{label}.json"
    env = dict(os.environ)
    if code is not None:  # the other checkout's sources first on the path (bench.busy.server_env)
        env["PYTHONPATH"] = sources_path(code)
    cmd = [sys.executable, "-m", "bench.walks", "replay", "--db", str(db), "--answers", str(answers)]
    cmd += ["--repeats", str(repeats)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["answers"] = json.loads(answers.read_text())
    return out


def _least(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per query, the least of the rounds' figures (each a median of repeats): what the code costs
    when nothing else on the machine gets in its way. The answers must agree across rounds."""
    first = runs[0]
    if any(r["answers"] != first["answers"] for r in runs[1:]):
        raise SystemExit(f"{first['code']}: the rounds answered differently")
    return {
        **first,
        "cpu_ms": [min(xs) for xs in zip(*(r["cpu_ms"] for r in runs), strict=True)],
        "stage_ms": {
            k: [min(xs) for xs in zip(*(r["stage_ms"][k] for r in runs), strict=True)] for k in first["stage_ms"]
        },
    }


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="run", choices=("run", "capture", "replay"))
    ap.add_argument("--baseline", default="efbf670", help="the commit compared with this tree")
    ap.add_argument("--queries", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="replays of each version, alternated")
    ap.add_argument("--recapture", action="store_true", help="capture the inputs again")
    ap.add_argument("--db", type=Path, default=GRAPH_DB)
    ap.add_argument("--answers", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.command == "replay":
        print(json.dumps(asyncio.run(_replay(CAPTURE, args.db, args.repeats, args.answers))))
        return
    if args.command == "capture" or args.recapture or not CAPTURE.exists() or not GRAPH_DB.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        captured = asyncio.run(_capture(args.queries, seed=6))
        CAPTURE.write_text(json.dumps(captured))
        print(f"captured {len(captured['inputs'])} walk stages from {args.queries} Searches", flush=True)
        if args.command == "capture":
            return
    from bench.busy import worktree
    from bench.latency import machine_lines

    now = datetime.now(UTC)
    captured = json.loads(CAPTURE.read_text())
    with tempfile.TemporaryDirectory(prefix="walks-") as t:
        tmp = Path(t)
        base = worktree(args.baseline)
        rounds: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for _ in range(args.rounds):  # alternated: a load that comes and goes weighs on both alike
            rounds.append(
                (_run_replay(base, tmp, "before", args.repeats), _run_replay(None, tmp, "after", args.repeats))
            )
        before, after = (_least([r[k] for r in rounds]) for k in (0, 1))
    old, new = before["answers"], after["answers"]
    problems = compare(old, new)
    for p in problems[:20]:
        print(p)
    cands = sum(len(c) for c in new)
    explained = sum(len(w) for c in new for _, w in c.values())
    lines = [
        "# The graph walk stage of a hybrid Search: CPU per Search",
        "",
        *machine_lines(now),
        f"- command: `python -m bench.walks {' '.join(sys.argv[1:] if argv is None else argv)}`",
        f"- data: {len(captured['inputs'])} walk stages captured from real hybrid Searches (LoCoMo dev questions of "
        f"each scope's own conversation, default search settings: depth 2, max_paths 1000, PageRank ranking) on "
        f"a copy of {captured['source']}",
        "- measured: `HybridRetriever._graph_candidates` (memory entities of the top vector hits, expand, walk "
        "scoring, personalized PageRank) on the embedded store, in-process, one Search at a time, no other "
        f"thread busy; `time.process_time`, median of {args.repeats} warm calls per query, the least of "
        f"{args.rounds} rounds (the two versions alternated, each round a fresh process), then the median and p95 "
        "over the queries. Stages: thread CPU of each stage's functions, in a second pass (the same statistics)",
        f"- code: before = {before['code']} (its sources first on PYTHONPATH), "
        f"after = {after['code']}{uncommitted('services', 'graph')}",
        "",
        "| code | stage total median ms | p95 ms | mean ms | expand median | scoring median | PageRank median |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, run in ((f"{args.baseline} (before)", before), ("this tree", after)):
        xs, st = run["cpu_ms"], run["stage_ms"]
        lines.append(
            f"| {label} | {percentile(xs, 50):.2f} | {percentile(xs, 95):.2f} | {statistics.fmean(xs):.2f} | "
            + " | ".join(f"{percentile(st[k], 50):.2f}" for k in STAGES)
            + " |"
        )
    lines += [
        "",
        f"Equivalence: {len(new)} queries, {cands} graph candidates and the {explained} walks that explain them "
        f"compared (scores to 1e-9, explanations edge by edge, in order): {len(problems)} mismatches.",
    ]
    out = args.out or RESULTS / f"walks-{now:%Y-%m-%d}.md"
    write_report(lines, out, failed=bool(problems))


if __name__ == "__main__":
    main()
