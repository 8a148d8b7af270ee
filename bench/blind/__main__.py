"""Score the blind sets (bench/blind/*.json) once, through a real server: aggregates only.

    python -m bench.blind [--sets bench/blind2] [--out PATH]

The sets were written by an author who had not read the extractor or the reconciliation rules,
and committed before any tuning for them (see README.md here). This scorer prints no sentence,
no hit and no per-item outcome, only totals, so running it does not show anyone what to tune.
Every scoring after the first (a ``blind-*.md`` already in bench/results) is labelled post hoc.

* histories: each in its own user scope, every turn its own Add at its date, then the probes
  (bench.evolution's runner). Current truth first: the top hit states a current answer. Stale
  rate: among probes with a past answer, the top hit states the past answer and no current one.
  False invalidations: facts that must survive (and every memory of a history without changes)
  that were retired.
* extraction: each sentence one Add in a fresh scope; an object is reached when Subgraph from
  the stated subject (the user id for "user") holds a relation whose subject is that subject and
  whose object has the expected lemma as a word (plural-insensitive). Lists: sentences with two
  or more expected objects that reached every one.
* profile: each sentence one Add in a fresh scope, then Profile. Found: an expected attribute
  with a value holding the keyword; spurious: produced attributes matching no expected one.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.evolution.__main__ import mentions, run, share
from bench.evolution.conversations import Conversation, load
from bench.latency import machine_lines
from recalld.client import Recalld, RecalldError
from tests.harness import ServerProcess

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
SETS = [HERE]  # --sets: a directory of sets of the same format (a dry run of this scorer on other items)
# the blind sets: each written by an author who had read no rule, committed before it was scored
BLIND = (HERE, HERE.parent / "blind2")
TARGETS = {
    "histories: current truth first": ">= 0.85",
    "histories: stale rate": "<= 0.08",
    "histories: false invalidations": "<= 0.03",
    "extraction: objects reached": ">= 0.95",
    "extraction: lists with every item": "1.00",
    "profile: expected attributes found": ">= 0.90",
    "profile: spurious attributes": "<= 0.05",
}


def _load(name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads((SETS[0] / f"{name}.json").read_text())
    return items


def histories() -> list[Conversation]:
    return load(SETS[0] / "histories.json")


def _words(text: str) -> set[str]:
    out: set[str] = set()
    for w in re.findall(r"[\w'-]+", text.casefold()):
        out |= {w, w[:-1] if w.endswith("s") else w, w[:-2] if w.endswith("es") else w}
    return out


def _same(a: str, b: str) -> bool:
    return a.casefold().strip() == b.casefold().strip()


def extraction(client: Recalld) -> dict[str, float]:
    reached = total = lists = lists_whole = 0
    for item in _load("extraction"):
        user = f"blind-x-{uuid.uuid4().hex[:8]}"
        client.add(item["text"], user_id=user)
        subject = user if item["subject"] == "user" else item["subject"]
        try:
            edges = client.subgraph(subject, user_id=user, depth=1).edges
        except RecalldError:
            edges = ()
        objects = set().union(*(_words(e.object) for e in edges if _same(e.subject, subject))) if edges else set()
        hit = [o.casefold() in objects for o in item["objects"]]
        reached += sum(hit)
        total += len(hit)
        if len(hit) >= 2:
            lists += 1
            lists_whole += all(hit)
    return {
        "extraction: objects reached": reached / max(total, 1),
        "extraction: lists with every item": lists_whole / max(lists, 1),
    }


def profile(client: Recalld) -> dict[str, float]:
    found = expected = spurious = produced = 0
    for item in _load("profile"):
        user = f"blind-p-{uuid.uuid4().hex[:8]}"
        client.add(item["text"], user_id=user)
        got = client.profile(user_id=user)
        want = item["attributes"]
        expected += len(want)
        found += sum(any(a.name == w["name"] and mentions(a.value, w["value"]) for a in got) for w in want)
        produced += len(got)
        spurious += sum(not any(a.name == w["name"] and mentions(a.value, w["value"]) for w in want) for a in got)
    return {
        "profile: expected attributes found": found / max(expected, 1),
        "profile: spurious attributes": spurious / max(produced, 1),
    }


def score(client: Recalld) -> dict[str, float]:
    convs = histories()
    out = run(client, convs, f"blind-{uuid.uuid4().hex[:6]}")
    # stale: a hit stating the past answer ranks above the first current one (bench.evolution's
    # definition; it counts every probe whose top hit states the past answer and no current one)
    return {
        "histories: current truth first": share(out.current),
        "histories: stale rate": share(out.stale),
        "histories: false invalidations": out.invalid_fail / max(out.invalid_checks, 1),
        **extraction(client),
        **profile(client),
    }


def _free(path: Path) -> Path:
    """``path``, or ``<stem>-2.md``, ``-3``, ... when it exists: a scoring never overwrites another."""
    n = 1
    out = path
    while out.exists():
        n += 1
        out = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--sets", type=Path, default=HERE, help="other sets of this format: a dry run")
    args = ap.parse_args()
    SETS[0] = args.sets.resolve()
    blind = SETS[0] in BLIND
    if not blind and args.out is None:
        ap.error("--sets other than a blind set needs --out (it is not a scoring of the blind sets)")
    earlier = sorted(RESULTS.glob(f"{SETS[0].name}-20*.md")) if blind else []
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", env={"RECALLD_RECONCILE_INTERVAL_S": "0"})
        with server, Recalld(server.address, timeout=300) as client:
            client.add("warm-up sentence for the models.", user_id="warmup")
            figures = score(client)
    now = datetime.now(UTC)
    label = "first scoring" if blind else f"dry run on {SETS[0]} (not the blind sets)"
    if earlier:
        label = f"post hoc: scoring #{len(earlier) + 1} (earlier: {', '.join(p.name for p in earlier)})"
    lines = [
        f"# The blind sets of bench/{SETS[0].name}, scored (aggregates only)"
        if blind
        else f"# {SETS[0].name}, scored as the blind sets are",
        "",
        f"- {label}",
        *machine_lines(now),
        f"- sets: {len(_load('histories'))} histories, {len(_load('extraction'))} extraction sentences, "
        f"{len(_load('profile'))} profile sentences (bench/{SETS[0].name}/README.md)",
        "",
        "| measure | figure | target |",
        "|---|---:|---|",
        *(f"| {k} | {v:.3f} | {TARGETS[k]} |" for k, v in figures.items()),
        "",
    ]
    text = "\n".join(lines)
    out = args.out or _free(RESULTS / f"{SETS[0].name}-{now:%Y-%m-%d}.md")
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
