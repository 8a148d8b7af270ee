"""Per-category error analysis of LoCoMo misses, from the rankings bench.ablation dumps.

    python -m bench.ablation --dump /tmp/rankings.json
    python -m bench.errors /tmp/rankings.json [--variant NAME] [--out bench/results/locomo-errors-<date>.md]

A miss is a question whose evidence turns are not all among the top-10 hits of the variant
(default: the shipped hybrid). For up to 30 misses per category, in the dataset's order (no
picking), it lists the question, the evidence turn that was missed, the turns of the three hits
ranked first, and which retriever had the evidence in its own top 20:

* vector: Search in vector mode; graph: Search in graph mode (both from the same dump);
* lexical: SQLite FTS5 (porter stemmer, BM25) over the conversation's raw turns with the same
  query words as the service's lexical retriever (recalld.core.lexical): an approximation, since
  the service indexes the memories distilled from the turns, not the turns.

The summary table counts, per category, the misses each retriever could have fixed.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.latency import machine_lines
from bench.locomo import (
    CATEGORIES,
    DEFAULT_DATA,
    RESULTS,
    Conversation,
    Question,
    load_conversations,
    select_questions,
    turn_text,
)
from recalld.core.lexical import lexical_terms
from recalld.graph.sqlite_filters import fts5_match

PER_CATEGORY = 30
TOP = 20


def lexical_rankings(convs: Sequence[Conversation], questions: Sequence[Question]) -> dict[str, list[str]]:
    """FTS5 BM25 top-TOP turns per question within its conversation."""
    out: dict[str, list[str]] = {}
    for c in convs:
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE t USING fts5(dia_id UNINDEXED, text, tokenize='porter unicode61')")
        db.executemany(
            "INSERT INTO t VALUES (?, ?)", [(t["dia_id"], turn_text(t)) for s in c.sessions for t in s.turns]
        )
        for q in questions:
            if q.sample_id != c.sample_id:
                continue
            words = lexical_terms(q.text)
            key = f"{q.sample_id}/{q.index}"
            if not words:
                out[key] = []
                continue
            rows = db.execute(
                "SELECT dia_id FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?", (fts5_match(words), TOP)
            ).fetchall()
            out[key] = [r[0] for r in rows]
        db.close()
    return out


def short(text: str, n: int = 150) -> str:
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= n else text[: n - 1] + "…"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dump", type=Path, help="bench.ablation --dump output")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--variant", default="hybrid (all retrievers)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    runs: Mapping[str, Mapping[str, list[str | None]]] = json.loads(args.dump.read_text())
    main_run, vector, graph = runs[args.variant], runs["vector mode"], runs["graph mode"]
    convs = load_conversations(args.data)
    questions, _, _, _ = select_questions(convs)
    turns = {f"{c.sample_id}/{t['dia_id']}": turn_text(t) for c in convs for s in c.sessions for t in s.turns}
    lexical = lexical_rankings(convs, questions)

    now = datetime.now(UTC)
    lines = [
        f"# LoCoMo dev: what the misses are ({args.variant}, recall@10)",
        "",
        *machine_lines(now),
        f"- command: `python -m bench.errors {' '.join(sys.argv[1:] if argv is None else argv)}`",
        "- a miss: a question with an evidence turn outside the top 10; up to 30 per category, in the dataset's "
        "order; 'in top 20 of': the retrievers whose own top 20 held the missed turn (vector and graph: the "
        "service's vector and graph modes; lexical: FTS5 BM25 over the raw turns with the service's query words, "
        "an approximation)",
        "",
    ]
    summary: list[str] = []
    detail: list[str] = []
    for cat, name in CATEGORIES.items():
        qs = [q for q in questions if q.category == cat]
        misses = []
        for q in qs:
            key = f"{q.sample_id}/{q.index}"
            top10 = set(main_run[key][:10])
            missed = [d for d in q.evidence.ids if d not in top10]
            if missed:
                misses.append((q, key, missed))
        could = {"vector": 0, "graph": 0, "lexical": 0, "hybrid top 20": 0, "none": 0}
        detail += [f"## {name}: {len(misses)} misses of {len(qs)} questions", ""]
        detail += ["| question | missed evidence turn | ranked 1-3 instead | in top 20 of |", "|---|---|---|---|"]
        for i, (q, key, missed) in enumerate(misses):
            d = missed[0]
            found = [
                n
                for n, ranked in (
                    ("vector", vector[key][:TOP]),
                    ("graph", graph[key][:TOP]),
                    ("lexical", lexical[key][:TOP]),
                    ("hybrid top 20", main_run[key][:TOP]),
                )
                if d in ranked
            ]
            for n in found:
                could[n] += 1
            could["none"] += not found
            if i >= PER_CATEGORY:
                continue
            above = " / ".join(short(turns.get(f"{q.sample_id}/{h}", "?"), 60) for h in main_run[key][:3])
            detail.append(
                f"| {short(q.text, 90)} | {d}: {short(turns.get(f'{q.sample_id}/{d}', '?'))} | {above} | "
                f"{', '.join(found) or 'none'} |"
            )
        detail.append("")
        summary.append(
            f"| {name} | {len(qs)} | {len(misses)} | "
            + " | ".join(str(could[n]) for n in ("vector", "graph", "lexical", "hybrid top 20", "none"))
            + " |"
        )
    lines += [
        "## Summary: misses at recall@10, and the retrievers whose top 20 held the first missed turn",
        "",
        "| category | questions | misses | vector | graph | lexical | hybrid top 20 | none |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *summary,
        "",
        *detail,
    ]
    out = args.out or RESULTS / f"locomo-errors-{now:%Y-%m-%d}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
