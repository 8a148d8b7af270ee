"""LoCoMo retrieval with each retriever on and off, and fusion weights chosen by cross-validation.

    python -m bench.ablation [--data PATH] [--out bench/results/ablation-<date>.md] [--dump FILE]

The three dev conversations are ingested once, exactly as bench.locomo does (one Add per turn,
metadata {dia_id, session}, the session date as reference time). Then every variant runs on its
own copy of that data directory (a Search records use, which decay reads: no variant sees
another's), in a real `recalld serve` with the variant's settings, asking every question of
categories 1-4 in one mode, limit 20, as of the day after the conversation's last session
(bench.locomo's ``--ask-at end``).

Variants:

* the ablation: hybrid with every retriever (the defaults), without the lexical retriever,
  without the graph's score (its alpha at 0), and the vector and graph modes alone;
* the grid of one fusion weight (``--grid``: the lexical retriever's alpha by default), used for
  leave-one-conversation-out cross-validation: for each conversation, the grid value with the
  best mean recall@10 on the OTHER two is applied to it, and the table reports those held-out
  figures. The value to ship is the median of the three folds' choices: never the best value
  on all three at once (the dev slice is small; unseen conversations are checked independently).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.latency import machine_lines
from bench.locomo import (
    CATEGORIES,
    DEFAULT_DATA,
    LIMIT,
    RESULTS,
    Conversation,
    Ingest,
    Question,
    ingest,
    load_conversations,
    percentile,
    recall_at_k,
    select_questions,
    write_report,
)

BASE_ENV = {"RECALLD_RECONCILE_INTERVAL_S": "0"}


@dataclass(frozen=True)
class Variant:
    name: str
    env: Mapping[str, str]
    mode: str = "hybrid"


ABLATION = (
    Variant("hybrid (all retrievers)", {}),
    Variant("hybrid, linked names kept in the lexical query", {"RECALLD_SEARCH_LEXICAL_LINKED": "true"}),
    Variant("hybrid, graph ranked by walk scores (not PageRank)", {"RECALLD_SEARCH_GRAPH_RANKING": "walks"}),
    Variant("hybrid − lexical", {"RECALLD_SEARCH_LEXICAL": "false"}),
    Variant("hybrid − time ordering (first/last/before/after)", {"RECALLD_SEARCH_TIME_ORDER_ALPHA": "0"}),
    Variant("hybrid − time window", {"RECALLD_SEARCH_TIME_ALPHA": "0"}),
    Variant("hybrid − speaker", {"RECALLD_SEARCH_SPEAKER_ALPHA": "0"}),
    Variant("hybrid − graph score", {"RECALLD_SEARCH_GRAPH_ALPHA": "0"}),
    Variant("hybrid − lexical − graph score", {"RECALLD_SEARCH_LEXICAL": "false", "RECALLD_SEARCH_GRAPH_ALPHA": "0"}),
    Variant("vector mode", {}, "vector"),
    Variant("graph mode", {}, "graph"),
)


@dataclass
class Run:
    variant: Variant
    ranked: dict[tuple[str, int], list[str | None]]  # question -> dia_ids of the hits, best first
    latency_ms: list[float]


def ask(address: str, questions: Sequence[Question], mode: str, ask_at: Mapping[str, datetime]) -> Run:
    from recalld.client import Recalld

    ranked: dict[tuple[str, int], list[str | None]] = {}
    latency: list[float] = []
    with Recalld(address) as client:
        for q in questions[:5]:  # warm-up, untimed
            client.search(q.text, user_id=q.sample_id, limit=LIMIT, mode=mode, as_of=ask_at.get(q.sample_id))
        for q in questions:
            t0 = time.perf_counter()
            hits = client.search(
                q.text, user_id=q.sample_id, limit=LIMIT, mode=mode, as_of=ask_at.get(q.sample_id), timeout=60
            )
            latency.append((time.perf_counter() - t0) * 1000)
            ranked[(q.sample_id, q.index)] = [h.memory.metadata.get("dia_id") for h in hits]
    return Run(Variant("", {}, mode), ranked, latency)


def run_variant(variant: Variant, ingested: Path, work: Path, questions: Sequence[Question], ask_at: Any) -> Run:
    from tests.harness import ServerProcess

    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(ingested, data)
    server = ServerProcess(data, env={**BASE_ENV, **variant.env}, log_path=work / "server.log").start()
    try:
        run = ask(server.address, questions, variant.mode, ask_at)
    finally:
        server.stop()
    run.variant = variant
    return run


def recall(run: Run, questions: Sequence[Question], k: int) -> float:
    if not questions:
        return float("nan")
    return statistics.fmean(recall_at_k(q.evidence.ids, run.ranked[(q.sample_id, q.index)], k) for q in questions)


def cross_validate(
    grid: Sequence[tuple[float, Run]], questions: Sequence[Question], convs: Sequence[str], k: int = 10
) -> tuple[dict[str, tuple[float, Run]], float]:
    """Leave one conversation out: conversation -> (the grid value chosen on the others, its run);
    and the value to ship (the median of the folds' choices)."""
    chosen: dict[str, tuple[float, Run]] = {}
    for held in convs:
        train = [q for q in questions if q.sample_id != held]
        # best mean recall@k on the other conversations; ties go to the smaller weight
        chosen[held] = max(grid, key=lambda vr: (recall(vr[1], train, k), -vr[0]))
    return chosen, statistics.median(v for v, _ in chosen.values())


def table_row(name: str, questions: Sequence[Question], ranked_of: Any, latency: Sequence[float] | None) -> str:
    cells = []
    for group in ("overall", *CATEGORIES.values()):
        qs = [q for q in questions if group == "overall" or CATEGORIES[q.category] == group]
        vals = [statistics.fmean(recall_at_k(q.evidence.ids, ranked_of(q), k) for q in qs) for k in (5, 10)]
        cells.append(f"{vals[0]:.3f} / {vals[1]:.3f}")
    lat = f"{percentile(latency, 50):.0f} / {percentile(latency, 95):.0f}" if latency else "–"
    return f"| {name} | " + " | ".join(cells) + f" | {lat} |"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--dump", type=Path, default=None, help="every variant's rankings as JSON")
    ap.add_argument("--grid-var", default="RECALLD_SEARCH_LEXICAL_ALPHA", help="the weight cross-validated")
    ap.add_argument("--grid", default="0.05,0.1,0.15,0.25,0.4", help="its values")
    ap.add_argument("--conversation", action="append", default=[], help="only these sample ids (repeat)")
    ap.add_argument("--no-ablation", action="store_true", help="the grid only")
    ap.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="a server setting under every variant"
    )
    ap.add_argument(
        "--ingested", type=Path, default=None, help="keep the ingested data here; if it holds one, reuse it"
    )
    args = ap.parse_args(argv)

    convs: list[Conversation] = load_conversations(args.data)
    if args.conversation:
        convs = [c for c in convs if c.sample_id in args.conversation]
    questions, _, _, _ = select_questions(convs)
    ask_at = {
        c.sample_id: max(s.date for s in c.sessions if s.date is not None) + timedelta(days=1)
        for c in convs
        if any(s.date is not None for s in c.sessions)
    }
    grid_values = [float(x) for x in args.grid.split(",") if x]
    variants = [] if args.no_ablation else list(ABLATION)
    grid_variants = [Variant(f"{args.grid_var}={v:g}", {args.grid_var: f"{v:g}"}) for v in grid_values]

    from recalld.client import Recalld
    from tests.harness import ServerProcess

    base = dict(kv.split("=", 1) for kv in args.env)
    variants = [Variant(v.name, {**base, **v.env}, v.mode) for v in variants]
    grid_variants = [Variant(v.name, {**base, **v.env}, v.mode) for v in grid_variants]
    work = Path(tempfile.mkdtemp(prefix="ablation-"))
    ingested = args.ingested or work / "ingested"
    t0 = time.perf_counter()
    try:
        stats = Ingest()
        reused = ingested.exists() and any(ingested.iterdir())
        if not reused:
            server = ServerProcess(ingested, env=BASE_ENV, log_path=work / "ingest.log").start()
            try:
                with Recalld(server.address) as client:
                    for c in convs:
                        ingest(client, c, stats)
                        print(f"ingested {c.sample_id}: {stats.added} memories so far", file=sys.stderr)
            finally:
                server.stop()
        ingest_s = time.perf_counter() - t0
        runs: list[Run] = []
        for v in [*variants, *grid_variants]:
            t1 = time.perf_counter()
            runs.append(run_variant(v, ingested, work, questions, ask_at))
            r10 = recall(runs[-1], questions, 10)
            print(f"{v.name}: R@10 {r10:.3f} ({time.perf_counter() - t1:.0f} s)", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    by_name = {r.variant.name: r for r in runs}
    grid = [(v, by_name[gv.name]) for v, gv in zip(grid_values, grid_variants, strict=True)]
    conv_ids = [c.sample_id for c in convs]
    chosen, ship = cross_validate(grid, questions, conv_ids) if len(conv_ids) > 1 else ({}, float("nan"))

    now = datetime.now(UTC)
    out = args.out or RESULTS / f"ablation-{now:%Y-%m-%d}.md"
    header = (
        "| variant | overall R@5 / R@10 | "
        + " | ".join(f"{g} R@5 / R@10" for g in CATEGORIES.values())
        + " | Search p50 / p95 ms |"
    )
    rule = "|---|" + "---:|" * (len(CATEGORIES) + 2)
    how_ingested = f"reused from {ingested}" if reused else f"{stats.added} memories, {ingest_s:.0f} s"
    counts = {g: sum(CATEGORIES[q.category] == g for q in questions) for g in CATEGORIES.values()}
    lines = [
        "# LoCoMo dev: each retriever on and off, and cross-validated fusion weights",
        "",
        *machine_lines(now),
        f"- command: `python -m bench.ablation {' '.join(sys.argv[1:] if argv is None else argv)}`",
        *([f"- settings under every variant: `{' '.join(args.env)}`"] if args.env else []),
        f"- data: {len(convs)} conversations ({', '.join(conv_ids)}), {len(questions)} questions of categories "
        f"1-4 ({', '.join(f'{g} {n}' for g, n in counts.items())}); ingested once ({how_ingested}), then each "
        "variant on its own copy, in a real `recalld serve` (embedded defaults) "
        "with the variant's settings; Search limit 20, as of the day after each conversation; recall@k as in "
        "bench.locomo (share of a question's evidence turns among the top-k hits, macro mean)",
        "- latency: client-side, one request at a time",
        "",
        "## Ablation",
        "",
        header,
        rule,
        *(
            table_row(r.variant.name, questions, lambda q, r=r: r.ranked[(q.sample_id, q.index)], r.latency_ms)
            for r in runs
            if r.variant in variants
        ),
        "",
        "R@10 per conversation (a choice between variants should hold in each):",
        "",
        "| variant | " + " | ".join(conv_ids) + " |",
        "|---|" + "---:|" * len(conv_ids),
        *(
            f"| {r.variant.name} | "
            + " | ".join(f"{recall(r, [q for q in questions if q.sample_id == c], 10):.3f}" for c in conv_ids)
            + " |"
            for r in runs
            if r.variant in variants
        ),
        "",
        f"## `{args.grid_var}`: the grid, and leave-one-conversation-out cross-validation",
        "",
        header,
        rule,
        *(
            table_row(
                f"{args.grid_var}={v:g}", questions, lambda q, r=r: r.ranked[(q.sample_id, q.index)], r.latency_ms
            )
            for v, r in grid
        ),
    ]
    if chosen:
        lines += [
            table_row(
                "**cross-validated** (each conversation with the value chosen on the other two)",
                questions,
                lambda q: chosen[q.sample_id][1].ranked[(q.sample_id, q.index)],
                None,
            ),
            "",
            "| held-out conversation | value chosen on the other two | its R@10 on the held-out one |",
            "|---|---:|---:|",
            *(
                f"| {c} | {v:g} | {recall(r, [q for q in questions if q.sample_id == c], 10):.3f} |"
                for c, (v, r) in chosen.items()
            ),
            "",
            f"- value to ship: the median of the folds' choices, **{ship:g}**",
        ]
    write_report(out, lines)
    if args.dump:
        args.dump.write_text(
            json.dumps(
                {r.variant.name: {f"{s}/{i}": ids for (s, i), ids in r.ranked.items()} for r in runs},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
