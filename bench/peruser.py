"""Search cost against the size of ONE user's memory: 100 -> 1,000 -> 10,000 memories in a scope.

    python -m bench.peruser [--sizes 100,1000,10000] [--samples 150] [--backend embedded]

Medical and education users accumulate thousands of memories each; a Search should cost what
the query touches, not the size of the user's graph. One server process; one user's scope grows
in stages with distinct first-person facts (extraction on, Adds of 25 sentences) about many
people, places, books and things, so the user's own node gains an edge per fact, as in a long
real conversation. Beside it 20 small users (100 memories each) so the filters have work to do.
At each size: Search latency per mode (one request at a time, queries about the big user's
facts), the load rate, the server's RSS. Writes bench/results/peruser-<backend>-<date>.md.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.latency import RESULTS, backend_env, machine_lines, pct, rss_mb, sentence, timed
from recalld.client import Mode, Recalld
from tests.harness import ServerProcess

BIG = "big-user"
MODES: tuple[Mode, ...] = ("hybrid", "vector", "graph")
_SYL = ["ka", "lo", "mi", "ra", "ven", "tor", "bel", "an", "is", "do", "mar", "eli", "sun", "pe", "ju", "ost"]
PLACES = ["library", "market", "harbour", "museum", "gym", "clinic", "cafe", "station", "park", "theatre"]
ITEMS = ["lamp", "bicycle", "guitar", "camera", "kettle", "jacket", "telescope", "notebook", "rug", "drone"]
SKILLS = ["knit", "sail", "juggle", "bake bread", "code in Rust", "play chess", "draw portraits", "fix bikes"]
TOPICS = ["astronomy", "ceramics", "poetry", "robotics", "ancient Rome", "jazz", "botany", "origami", "economics"]
CITIES = ["Berlin", "Lisbon", "Paris", "Madrid", "Tokyo", "Boston", "Oslo", "Rome", "Vienna", "Dublin", "Quito"]

QUERIES = [
    "which books did my friends recommend?",
    "who did I meet at the museum?",
    "what did I buy last year?",
    "who taught me to sail?",
    "where did I go hiking?",
    "what topics does my colleague study?",
    "who recommended a book about astronomy?",
    "what did I buy from my neighbour?",
]


def _name(i: int) -> str:
    """A distinct capitalised pseudo-name per i (16**3 = 4096 before a suffix repeats)."""
    a, b, c = i % 16, (i // 16) % 16, (i // 256) % 16
    base = (_SYL[a] + _SYL[b] + _SYL[c]).capitalize()
    return base if i < 4096 else f"{base} {_SYL[(i // 4096) % 16].capitalize()}"


def fact(i: int, r: random.Random) -> str:
    """The i-th distinct first-person fact of the big user."""
    n = _name(i)
    k = i % 6
    if k == 0:
        return f"My friend {n} recommended a book about {r.choice(TOPICS)}."
    if k == 1:
        return f"I met {n} at the {r.choice(PLACES)} in {r.choice(CITIES)}."
    if k == 2:
        return f"I bought a {r.choice(ITEMS)} from my neighbour {n}."
    if k == 3:
        return f"{n} taught me how to {r.choice(SKILLS)}."
    if k == 4:
        return f"I went hiking with {n} near {r.choice(CITIES)}."
    return f"My colleague {n} studies {r.choice(TOPICS)}."


def grow(client: Recalld, start: int, target: int, r: random.Random) -> tuple[int, float]:
    added, t0, i = 0, time.perf_counter(), start
    while start + added < target:
        n = min(25, target - start - added)
        added += len(client.add([fact(i + j, r) for j in range(n)], user_id=BIG, timeout=300).added)
        i += n
    return added, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--samples", type=int, default=150)
    ap.add_argument("--backend", choices=("embedded", "falkordb+milvus"), default="embedded")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    r = random.Random(11)
    rows: list[tuple[int, int, float, dict[str, list[float]], float]] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        env = backend_env(a.backend, Path(tmp), stack)
        server = stack.enter_context(ServerProcess(Path(tmp) / "data", env=env))
        with Recalld(server.address, timeout=120) as c:
            for u in range(20):  # neighbours: 100 memories each
                for _ in range(4):
                    c.add([sentence(r) + f" Note {u}." for _ in range(25)], user_id=f"small-{u:02d}", timeout=300)
            have = 0
            for size in sizes:
                added, load_s = grow(c, have, size, r)
                have += added
                for _ in range(20):
                    c.search(r.choice(QUERIES), user_id=BIG)
                lat = {
                    m: [timed(lambda m=m: c.search(r.choice(QUERIES), user_id=BIG, mode=m)) for _ in range(a.samples)]
                    for m in MODES
                }
                rows.append((size, have, added / load_s if load_s else 0.0, lat, rss_mb(server.pid)))
                print(
                    f"{size}: {added} in {load_s:.1f}s; "
                    + ", ".join(f"{m} p50 {pct(v, 50):.1f} p95 {pct(v, 95):.1f}" for m, v in lat.items()),
                    flush=True,
                )
    now = datetime.now(UTC)
    lines = [
        f"# Search cost against one user's memory size ({a.backend})",
        "",
        *machine_lines(now),
        f"- command: `python -m bench.peruser --sizes {a.sizes} --samples {a.samples} --backend {a.backend}`",
        "- data: one user grown to each size with distinct first-person facts (6 templates, a new person per fact,"
        " extraction on, Adds of 25); 20 other users of 100 memories each",
        "- latency: over gRPC, one request at a time, queries about the big user's facts, limit 10",
        "",
        "| memories in the scope | mode | p50 ms | p95 ms | p99 ms |",
        "|---:|---|---:|---:|---:|",
    ]
    for size, _, _, lat, _ in rows:
        for m, v in lat.items():
            lines.append(f"| {size} | {m} | {pct(v, 50):.1f} | {pct(v, 95):.1f} | {pct(v, 99):.1f} |")
    lines += ["", "| memories in the scope | load memories/s | server RSS MB |", "|---:|---:|---:|"]
    lines += [f"| {size} | {rate:.0f} | {rss:.0f} |" for size, _, rate, _, rss in rows]
    first, last = rows[0], rows[-1]
    lines += [
        "",
        f"- growth {first[0]} -> {last[0]}: "
        + ", ".join(f"{m} p95 x{pct(last[3][m], 95) / pct(first[3][m], 95):.2f}" for m in MODES),
    ]
    out = a.out or RESULTS / f"peruser-{a.backend}-{now:%Y-%m-%d}.md"
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
