"""The walk stage of a Search as index tuples (recalld.kernel.walks, recalld.graph.walking) against
a straightforward reference: a Path per walk, scored walk by walk, as retrieval did before.

Random multigraphs (parallel edges, cycles, self-loops, edges that fail the filter, shared
relations, terms in names and predicates, seeds with and without weight): the candidates, their
scores, the walks that explain them and PageRank's bipartite edges must be the same.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from recalld.core.spreading import bipartite_edges
from recalld.core.walk_scoring import score_walks
from recalld.graph.walking import walk
from recalld.kernel.domain import Edge, Path, norm
from recalld.kernel.walks import Walks

NAMES = ["Alice", "Luna", "cold", "Paris", "jazz", "pet shop", "Bob", "tea", "health club"]
PREDICATES = ["has_pet", "catch", "live_in", "like", "visit", "work_at", "drink"]
TERMS = ["pet", "health", "alice", "jazz", "paris", "work", "club", "tea"]

Incident = dict[str, list[tuple[Edge, str, Mapping[str, Any]]]]


def _graph(rng: random.Random) -> Incident:
    incident: Incident = {norm(n): [] for n in NAMES}
    for k in range(rng.randint(0, 40)):
        s, o = rng.choice(NAMES), rng.choice(NAMES)
        e = Edge(s, rng.choice(PREDICATES), o, f"m{rng.randint(0, 15)}")
        data = {"ok": rng.random() > 0.1, "k": k}
        incident[norm(s)].append((e, norm(o), data))
        incident[norm(o)].append((e, norm(s), data))
    return incident


def _reference_expand(incident: Incident, seeds: Sequence[str], depth: int, max_paths: int) -> list[Path]:
    """Every seed's walks of one length (seed order, breadth-first) before any longer walk."""
    display = {norm(n): n for n in NAMES}
    paths: list[Path] = []
    frontiers = [(display[norm(s)], [(norm(s), (), frozenset([norm(s)]))]) for s in seeds if norm(s) in incident]
    for _ in range(depth):
        for n, (start, frontier) in enumerate(frontiers):
            longer: list[tuple[str, tuple[Edge, ...], frozenset[str]]] = []
            for node, edges, seen in frontier:
                for e, nxt, data in incident[node]:
                    if not data["ok"] or nxt in seen:
                        continue
                    paths.append(Path(start, (*edges, e)))
                    if len(paths) >= max_paths:
                        return paths
                    longer.append((nxt, (*edges, e), seen | {nxt}))
            frontiers[n] = (start, longer)
    return paths


def _reference_score(
    paths: Sequence[Path], weights: Mapping[str, float], terms: Sequence[str]
) -> dict[str, tuple[float, int, list[tuple[float, Path]]]]:
    """memory -> (score, most terms matched, explanation): the formula of retrieval's docstring."""
    tokens = lambda text: set(text.casefold().replace("_", " ").split())  # noqa: E731
    out: dict[str, tuple[float, int, list[tuple[float, Path]]]] = {}
    for p in paths:
        weight = weights.get(norm(p.start), 0.0)
        if weight <= 0:
            continue
        found = {t for e in p.edges for t in terms if t in tokens(e.subject) | tokens(e.predicate) | tokens(e.object)}
        matched = len(found - tokens(p.start))
        score = weight * 0.5 ** (len(p.edges) - 1) * (1.0 + matched)
        best, most, walks = out.get(p.edges[-1].memory_id, (0.0, 0, []))
        out[p.edges[-1].memory_id] = (max(best, score), max(most, matched), [*walks, (score, p)])
    for mid, (best, most, walks) in out.items():
        kept = sorted(walks, key=lambda sw: (-sw[0], -len(sw[1].edges)))[:3]
        out[mid] = (best, most, [sw for sw in kept if sw[0] >= 0.5 * best])
    return out


def _reference_bipartite(paths: Sequence[Path], entities: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    pairs = [(f"m:{e.memory_id}", f"e:{norm(n)}") for p in paths for e in p.edges for n in (e.subject, e.object)]
    pairs += [(f"m:{m}", f"e:{norm(n)}") for m, names in entities.items() for n in names]
    return list(dict.fromkeys(pairs))


@pytest.mark.parametrize("seed", range(300))
def test_walks_score_and_explain_as_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    incident = _graph(rng)
    named = rng.sample([*NAMES, "nobody"], rng.randint(1, 3))
    borrowed = rng.sample(NAMES, rng.randint(0, 2))
    depth, cap = rng.randint(1, 3), rng.choice([1, 5, 20, 1000])
    weights = {norm(n): rng.choice([0.0, 0.3, 1.0]) for n in named + borrowed}
    terms = rng.sample(TERMS, rng.randint(0, 4))

    def expand(seeds: Sequence[str], d: int, n: int) -> Walks:
        return walk(
            seeds,
            d,
            n,
            has=incident.__contains__,
            display={norm(x): x for x in NAMES}.__getitem__,
            incident=incident.__getitem__,
            ok=lambda data: bool(data["ok"]),
        )

    paths = _reference_expand(incident, named, depth, cap)
    walks = expand(named, depth, cap)
    if borrowed and len(paths) < cap:  # as retrieval adds the vector hits' entities, one hop
        paths += _reference_expand(incident, borrowed, 1, cap - len(paths))
        walks.extend(expand(borrowed, 1, cap - len(walks)))
    assert walks.paths() == paths

    want = _reference_score(paths, weights, terms)
    got = score_walks(walks, weights, terms)
    assert set(got) == set(want)
    for mid, (score, matched, explanation) in want.items():
        assert (got[mid].score, got[mid].matched) == (score, matched)
        assert got[mid].explanation() == explanation
    assert score_walks(paths, weights, terms).keys() == got.keys()  # Paths are still accepted

    entities = {"m1": ["LUNA", "Paris"], "m99": ["tea"]}
    assert bipartite_edges(walks, entities) == _reference_bipartite(paths, entities)
    assert bipartite_edges(paths, entities) == _reference_bipartite(paths, entities)
