"""What the slot lookup costs an Add: the relation classes and the fallback, alone.

    python -m bench.slot_cost [--out PATH]

Every turn of the evolution sets (dev, held-out, dev-2: bench.evolution) is extracted with the
service's spaCy extractor, then, in order and with one cold fallback cache as a fresh server has,
each Add's slot work is timed on its own: the fallback (``SlotFallback.learn``: a dictionary
lookup, or one MiniLM embedding of the predicates the process has not seen yet), the predicate
variants the store is asked for and each triple's slot. The embedder is the service's (int8
MiniLM, one thread).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.evolution.conversations import CONVERSATIONS, HELD_OUT, TRUTH
from bench.latency import machine_lines, pct
from recalld.core.classify import SlotFallback
from recalld.core.relation_slots import slot_of, variants
from recalld.core.settings import ReconcileSettings
from recalld.extraction.spacy import SpacyExtractor
from recalld.kernel.domain import ChatMessage, Triple
from recalld.vector.embedders import MiniLMOnnxEmbedder

RESULTS = Path(__file__).resolve().parent / "results"


async def run() -> tuple[list[float], list[float], int, int]:
    extractor, embedder = SpacyExtractor(), MiniLMOnnxEmbedder(threads=1)
    settings = ReconcileSettings()
    fallback = SlotFallback(embedder, settings)
    await fallback.learn([Triple("u", "warm_up_at", "X")])  # the examples' vectors, once per process (not per Add)
    turns = [t for convs in (CONVERSATIONS, HELD_OUT, TRUTH) for c in convs for _, t in c.turns]
    every, misses, learned = [], [], 0
    for text in turns:
        facts = extractor.extract_sync([ChatMessage("user", text)], default_speaker="u")
        triples = [t for f in facts for t in f.triples]
        before = len(fallback._cache)
        t0 = time.perf_counter()
        classes = await fallback.learn(triples)
        _ = {p for t in triples for p in variants(t.predicate, settings, classes)}
        _ = [slot_of(t, settings, classes) for t in triples]
        ms = (time.perf_counter() - t0) * 1000
        every.append(ms)
        if len(fallback._cache) > before:
            misses.append(ms)
        learned += len(classes)
    return every, misses, len(turns), learned


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    every, misses, adds, learned = asyncio.run(run())
    now = datetime.now(UTC)
    lines = [
        "# The slot lookup's cost per Add",
        "",
        *machine_lines(now),
        f"- {adds} Adds (every turn of bench.evolution's dev, held-out and dev-2 sets), in order, one cold fallback "
        f"cache; {len(misses)} Adds met a predicate the process had not seen (one embedding each); the fallback "
        f"placed {learned} predicates in a class",
        "",
        "| Adds | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|",
        f"| all | {pct(every, 50):.3f} | {pct(every, 95):.3f} | {max(every):.3f} |",
        f"| meeting an unseen predicate | {pct(misses, 50):.3f} | {pct(misses, 95):.3f} | "
        f"{max(misses, default=0):.3f} |",
        "",
        "Reproduce: `python -m bench.slot_cost`",
        "",
    ]
    text = "\n".join(lines)
    out = args.out or RESULTS / f"slot-cost-{now:%Y-%m-%d}.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
