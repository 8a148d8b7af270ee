"""How the slot fallback's threshold was chosen (recalld.core.classify), reproducibly.

    python -m bench.slot_fallback [--out PATH]

Development predicates only: the relation table's own forms (recalld.kernel.slots), each scored
leave-one-out (its own phrase removed from the examples, so it is as unknown as a new verb), and
verbs that must never join a single-valued class (everyday verbs whose facts accumulate:
"visit", "work on", "study", "move in", "stay in" ...). The threshold is the smallest cosine
above every such verb's best score, rounded up to 0.01, plus a margin of 0.02; the shipped value is frozen at what this
printed on 2026-12-06 (0.82), and later table changes do not move it silently.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.latency import machine_lines
from recalld.kernel import slots
from recalld.vector.embedders import MiniLMOnnxEmbedder

RESULTS = Path(__file__).resolve().parent / "results"
NEVER = [
    "love",
    "like",
    "enjoy",
    "visit",
    "eat",
    "play",
    "read",
    "buy",
    "meet",
    "see",
    "go_to",
    "travel_to",
    "teach",
    "learn",
    "watch",
    "cook",
    "drink",
    "take",
    "use",
    "write",
    "run",
    "swim",
    "walk_to",
    "work_on",
    "work_with",
    "learn_about",
    "talk_to",
    "live_with",
    "move_in",
    "start",
    "play_with",
    "join_in",
    "sign_up_for",
    "volunteer_at",
    "shop_at",
    "eat_at",
    "stay_at",
    "stay_in",
    "vacation_in",
    "visit_in",
    "fly_to",
    "drive_to",
    "arrive_in",
    "born_in",
    "grow_up_in",
    "worry_about",
    "care_for",
    "look_after",
    "hate",
    "miss",
    "help",
]
MARGIN = 0.02  # above the closest everyday verb: a wrong class retires a fact, a miss only adds
SKIPPED = ("email", "text", "call", "study")  # the fallback never considers these (recalld.core.classify._SKIP)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    embedder = MiniLMOnnxEmbedder()
    pairs = [(c.name, e) for c in slots.CLASSES if c.single for e in c.examples]
    examples = np.asarray(embedder.embed_sync([e for _, e in pairs]))

    def best(predicate: str) -> tuple[str, float]:
        phrase = slots.phrase(predicate)
        v = np.asarray(embedder.embed_sync([phrase]))[0]
        scores = examples @ v
        keep = [i for i, (_, e) in enumerate(pairs) if e != phrase]  # leave-one-out
        i = max(keep, key=lambda j: float(scores[j]))
        return pairs[i][0], float(scores[i])

    positives = [(c.name, p) for c in slots.CLASSES if c.single for p in sorted(c.predicates | c.named)
                 if not p.startswith("has_")]  # fmt: skip
    pos = [(p, c, *best(p)) for c, p in positives]
    neg = [(p, *best(p)) for p in NEVER if p not in SKIPPED]
    threshold = float(np.ceil(max(s for _, _, s in neg) * 100 + 1e-9) / 100) + MARGIN
    caught = [r for r in pos if r[3] >= threshold and r[1] == r[2]]
    wrong = [r for r in pos if r[3] >= threshold and r[1] != r[2]]
    now = datetime.now(UTC)
    lines = [
        "# The slot fallback's threshold, chosen on development predicates",
        "",
        *machine_lines(now),
        f"- {len(pos)} table predicates scored leave-one-out; {len(neg)} everyday verbs that must not join a class",
        f"- threshold = smallest cosine above every everyday verb + {MARGIN}: **{threshold:.2f}** (shipped: "
        f"{slots.FALLBACK_SIMILARITY:.2f}, frozen)",
        f"- at it, {len(caught)} of {len(pos)} table predicates would be found by the fallback alone, "
        f"{len(wrong)} placed in a wrong class",
        "",
        "| predicate | its class | fallback's best | cosine |",
        "|---|---|---|---:|",
        *(f"| `{p}` | {c} | {b} | {s:.3f} |" for p, c, b, s in sorted(pos, key=lambda r: -r[3])),
        "",
        "| everyday verb | fallback's best | cosine |",
        "|---|---|---:|",
        *(f"| `{p}` | {b} | {s:.3f} |" for p, b, s in sorted(neg, key=lambda r: -r[2])),
        "",
        "Reproduce: `python -m bench.slot_fallback`",
        "",
    ]
    text = "\n".join(lines)
    out = args.out or RESULTS / f"slot-fallback-{now:%Y-%m-%d}.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
