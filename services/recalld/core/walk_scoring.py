"""Graph walks scored for a Search (recalld.core.retrieval): each memory a walk reaches becomes a
candidate.

A walk from a seed scores ``seed weight * 0.5 ** (hops - 1) * (1 + matches)``, where ``matches``
counts the query terms its relations' predicates and entity names state and its start's name does
not, so "how is my pet's health?" follows alice -has_pet-> Luna -catch-> cold. A memory scores by
its best walk and keeps its best walks as the explanation.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from recalld.kernel.domain import Path, norm
from recalld.kernel.walks import Walks

_MAX_PATHS_PER_HIT = 3


@dataclass(slots=True)
class GraphCandidate:
    score: float = 0.0
    matched: int = 0  # most query terms any one of its walks matched
    best: float = 0.0  # its best walk's score
    picks: list[int] = field(default_factory=list)  # its walks (indices into scored), in walk order
    scored: ScoredWalks | None = None

    def explanation(self) -> list[tuple[float, Path]]:
        """Its best walks (at most ``_MAX_PATHS_PER_HIT``), best first; among equal scores the
        longer walk explains more. Walks far weaker than the best one (from incidental seeds)
        explain nothing. Built on demand: only the hits a Search returns are explained."""
        scored = self.scored
        if scored is None or not self.picks:
            return []
        scores, steps = scored.scores, scored.walks.steps
        picks = self.picks
        if len(picks) > 1:
            picks = sorted(picks, key=lambda i: (-scores[i], -len(steps[i])))[:_MAX_PATHS_PER_HIT]
            picks = [i for i in picks if scores[i] >= 0.5 * self.best]
        return [(scores[i], scored.walks.path(i)) for i in picks]


@dataclass(slots=True, eq=False)
class ScoredWalks:
    walks: Walks
    scores: list[float]  # walk -> its score (0 for walks from unweighted seeds)


@functools.lru_cache(maxsize=65536)
def _tokens(text: str) -> frozenset[str]:
    return frozenset(text.casefold().replace("_", " ").split())


@functools.lru_cache(maxsize=65536)
def _triple_tokens(subject: str, predicate: str, obj: str) -> frozenset[str]:
    # keyed by a relation's three strings (their hashes are cached), not the Edge: hashing a
    # dataclass of six fields, datetimes included, cost more than the scoring itself
    return _tokens(predicate) | _tokens(subject) | _tokens(obj)


def score_walks(
    walks: Walks | Sequence[Path], seed_weights: dict[str, float], terms: Sequence[str]
) -> dict[str, GraphCandidate]:
    """Pure scoring of traversal walks into per-memory candidates."""
    if not isinstance(walks, Walks):
        walks = Walks.of(walks)
    # The query terms as bits; each relation's, once per relation (walks share their first
    # steps); a walk matches the terms its relations state that its start's name does not. A
    # search scores ~1,000 walks: the loop below is kept free of calls it does not need.
    wanted = frozenset(terms)
    bit = {t: 1 << k for k, t in enumerate(wanted)}
    edges = walks.edges
    states = [0] * len(edges)
    if wanted:
        for k, rel in enumerate(edges):
            here = wanted & _triple_tokens(rel.subject, rel.predicate, rel.object)
            if here:
                states[k] = _bits(bit, here)
    starts = [(seed_weights.get(norm(s), 0.0), ~_bits(bit, wanted & _tokens(s))) for s in walks.starts]
    scored = ScoredWalks(walks, [0.0] * len(walks))
    scores = scored.scores
    out: dict[str, GraphCandidate] = {}
    decay = [0.5**k for k in range(max(map(len, walks.steps), default=0))]  # exact: powers of two
    for i, (origin, steps) in enumerate(zip(walks.origins, walks.steps, strict=True)):
        weight, unnamed = starts[origin]
        if weight <= 0:
            continue
        hops = len(steps)
        if hops == 1:
            found = states[steps[0]]
        elif hops == 2:
            found = states[steps[0]] | states[steps[1]]
        else:
            found = 0
            for step in steps:
                found |= states[step]
        matched = (found & unnamed).bit_count() if found else 0
        score = scores[i] = weight * decay[hops - 1] * (1.0 + matched)
        mid = edges[steps[-1]].memory_id
        cand = out.get(mid)
        if cand is None:
            cand = out[mid] = GraphCandidate(scored=scored)
        if score > cand.best:
            cand.best = cand.score = score
        if matched > cand.matched:
            cand.matched = matched
        cand.picks.append(i)
    return out


def _bits(bit: Mapping[str, int], terms: AbstractSet[str]) -> int:
    out = 0
    for t in terms:
        out |= bit[t]
    return out
