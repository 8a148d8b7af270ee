"""The embedder alone: texts/s of the int8 MiniLM (onnxruntime) by batch size and thread count.

    python -m bench.embedder [--texts 512] [--out bench/results/embedder-<date>.md]

The floor of every target that embeds: a Search embeds one query, an Add its facts, an Import
its facts in batches. Texts: LoCoMo dev turns (for Adds and Imports) and questions (for Search),
in their order. Each cell: the best of three passes over ``--texts`` texts, in batches of that
size, on a fresh session with that many intra-op threads. CPU ms per text is the process's CPU
time over the pass divided by the texts. (Since 2026-12-06 the embedder runs each text alone, so
that no vector depends on its batch: the batch sizes here only group texts per call.)
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.latency import RESULTS, machine_lines
from bench.locomo import load_conversations, turn_text
from recalld.vector.embedders import MiniLMOnnxEmbedder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo-dev.json"
SIZES = (1, 2, 4, 8, 16, 32, 64)


def texts(kind: str, n: int) -> list[str]:
    convs = load_conversations(DATA)
    if kind == "questions":
        out = [str(qa["question"]) for c in convs for qa in c.qa]
    else:
        out = [turn_text(t) for c in convs for s in c.sessions for t in s.turns if turn_text(t)]
    return out[:n]


def rate(embedder: MiniLMOnnxEmbedder, items: list[str], batch: int) -> tuple[float, float]:
    """(texts/s, CPU ms per text), best of three passes."""
    best = (0.0, 0.0)
    for _ in range(3):
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(items), batch):
            embedder.embed_sync(items[i : i + batch])
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if len(items) / wall > best[0]:
            best = (len(items) / wall, 1000 * cpu / len(items))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=512)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    now = datetime.now(UTC)
    lines = [
        "# The embedder alone: int8 all-MiniLM-L6-v2 on onnxruntime",
        "",
        *machine_lines(now),
        "- command: `python -m bench.embedder`; best of 3 passes; texts/s (CPU ms per text)",
        "",
    ]
    for kind in ("questions", "turns"):
        items = texts(kind, args.texts)
        lines += [
            f"## LoCoMo {kind} ({len(items)}, mean {sum(map(len, items)) / len(items):.0f} characters)",
            "",
            "| threads | " + " | ".join(f"batch {b}" for b in SIZES) + " |",
            "|---|" + "---:|" * len(SIZES),
        ]
        for threads in (1, 2):
            embedder = MiniLMOnnxEmbedder(threads=threads)
            embedder.embed_sync(items[:8])  # warm up
            cells = [rate(embedder, items, b) for b in SIZES]
            lines.append(f"| {threads} | " + " | ".join(f"{r:.0f} ({c:.2f})" for r, c in cells) + " |")
            print(lines[-1], flush=True)
        lines.append("")
    out = args.out or RESULTS / f"embedder-{now:%Y-%m-%d}.md"
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
