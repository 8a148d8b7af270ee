"""Rank fusion: a pure function from ranked lists to one ranking."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fused:
    id: str
    score: float  # normalized to (0, 1]: 1.0 means rank 1 in every list
    sources: tuple[str, ...]  # the lists that contained the id, in input order


def reciprocal_rank_fusion(
    ranked: Mapping[str, Sequence[str]],
    *,
    weights: Mapping[str, float] | None = None,
    k: int = 60,
) -> list[Fused]:
    """Weighted reciprocal rank fusion (Cormack et al., 2009).

    score(d) = sum over lists L containing d of w_L / (k + rank_L(d)), ranks
    from 1, divided by the best achievable score (sum of w_L / (k + 1)) so it
    lies in (0, 1]. Ties break by the best single rank, then by id, so the
    result is deterministic. Duplicate ids within a list are dropped before ranking.
    """
    if k < 0:
        raise ValueError("k must be >= 0")
    w = {name: (weights or {}).get(name, 1.0) for name in ranked}
    if any(v < 0 for v in w.values()):
        raise ValueError("weights must be >= 0")
    best = sum(v / (k + 1) for v in w.values()) or 1.0
    scores: dict[str, float] = {}
    sources: dict[str, list[str]] = {}
    best_rank: dict[str, int] = {}
    for name, ids in ranked.items():
        for rank, doc in enumerate(dict.fromkeys(ids), start=1):
            scores[doc] = scores.get(doc, 0.0) + w[name] / (k + rank)
            sources.setdefault(doc, []).append(name)
            best_rank[doc] = min(best_rank.get(doc, rank), rank)
    order = sorted(scores, key=lambda d: (-scores[d], best_rank[d], d))
    return [Fused(d, scores[d] / best, tuple(sources[d])) for d in order]
