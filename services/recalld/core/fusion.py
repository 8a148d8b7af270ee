"""Rank fusion: a pure function from the retrievers' lists to one ranking, following a recipe.

A :class:`Recipe` names how one search mode fuses: the method and a weight per list, as data
(recalld.core.retrieval builds one per mode from the settings, like Graphiti's search config
recipes). :func:`fuse` applies it. Lists: "vector" (cosine), "graph", "lexical" (relevance
scores), and the boosts "time" (of the time the query names), "order" (first / last), "speaker"
(said by the person the query names).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


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


def boosts(scores: Mapping[str, Mapping[str, float]], alphas: Mapping[str, float]) -> dict[str, float]:
    """``sum over retrievers r of alpha_r * score_r(d) / max(score_r)`` for every id any of them
    found: what score fusion adds to an item's cosine. Scores are any non-negative relevance;
    a retriever without an alpha (or with 0) adds nothing."""
    out: dict[str, float] = {}
    for name, found in scores.items():
        alpha = alphas.get(name, 0.0)
        if alpha < 0:
            raise ValueError("alphas must be >= 0")
        top = max(found.values(), default=0.0)
        scale = alpha / top if top > 0 else 0.0
        for doc, v in found.items():
            out[doc] = out.get(doc, 0.0) + scale * max(v, 0.0)
    return out


def boosted_score_fusion(
    vector: Mapping[str, float],
    others: Mapping[str, Mapping[str, float]],
    alphas: Mapping[str, float],
    *,
    floor: float | None = None,
) -> list[Fused]:
    """Score fusion: ``(cosine + boosts) / (1 + sum of alphas)`` (see :func:`boosts`).

    Vector scores are cosine similarities (clamped to [0, 1]); every other retriever (graph
    walks, lexical matches) promotes what it found by its normalized score times its alpha. An
    id no vector hit has is given the ``floor`` cosine (default: the lowest vector score, i.e. "no
    better than the last vector candidate"), so the other retrievers lift memories the vector
    search ranked low or missed without letting them jump ahead on one signal alone. Unlike rank
    fusion, a strong vector hit keeps its lead over an item that every retriever found weakly.
    Ties break by id. ``sources``: "vector" first, then the others in input order."""
    if any(a < 0 for a in alphas.values()):
        raise ValueError("alphas must be >= 0")
    clamp = {k: min(max(v, 0.0), 1.0) for k, v in vector.items()}
    base = floor if floor is not None else (min(clamp.values()) if clamp else 0.0)
    extra = boosts(others, alphas)
    total = 1.0 + sum(alphas.get(name, 0.0) for name in others)
    scores: dict[str, float] = {}
    for doc in dict.fromkeys([*vector, *extra]):
        scores[doc] = (clamp.get(doc, base) + extra.get(doc, 0.0)) / total
    order = sorted(scores, key=lambda d: (-scores[d], d))
    names = ["vector", *others]
    found = {"vector": vector, **others}
    return [Fused(d, scores[d], tuple(n for n in names if d in found[n])) for d in order]


def weighted_score_fusion(
    vector: Mapping[str, float],
    graph: Mapping[str, float],
    *,
    alpha: float = 0.15,
    floor: float | None = None,
) -> list[Fused]:
    """Score fusion of the vector and graph retrievers alone: ``cosine + alpha * graph /
    max(graph)``, divided by ``1 + alpha`` (:func:`boosted_score_fusion` with one other list)."""
    if alpha < 0:
        raise ValueError("alpha must be >= 0")
    return boosted_score_fusion(vector, {"graph": graph}, {"graph": alpha}, floor=floor)


class Method(enum.StrEnum):
    COSINE = "cosine"  # the vector list alone, by cosine
    GRAPH = "graph"  # the graph list alone, by its score (ties: the most recent)
    SCORE = "score"  # cosine + alpha-weighted normalized scores of the other lists (boosted_score_fusion)
    RANK = "rank"  # weighted reciprocal rank fusion of every list (reciprocal_rank_fusion)


@dataclass(frozen=True, slots=True)
class Recipe:
    """How one search mode fuses. ``weights``: per list, the alpha (SCORE; the cosine counts 1)
    or the rank-fusion weight (RANK); a list without a weight takes no part."""

    name: str
    method: Method
    weights: Mapping[str, float] = field(default_factory=dict)
    rrf_k: int = 60


def fuse(
    recipe: Recipe, lists: Mapping[str, Mapping[str, float]], recency: Mapping[str, int] | None = None
) -> list[Fused]:
    """One ranking of everything the lists hold, as ``recipe`` says. ``lists``: name -> {id:
    score} ("vector" holds cosines in the vector search's order); a list present but empty still
    counts in score fusion's normalization. ``recency``: id -> a number that grows with time, for
    the ties of the graph list and of rank fusion's lists (the most recent first, then the id)."""
    when = recency or {}
    vector = lists.get("vector", {})
    if recipe.method is Method.COSINE:
        return [Fused(i, s, ("vector",)) for i, s in sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))]
    if recipe.method is Method.GRAPH:
        graph = lists.get("graph", {})
        top = max(graph.values(), default=1.0)
        order = sorted(graph, key=lambda m: (-graph[m], -when.get(m, 0), m))
        return [Fused(m, graph[m] / top, ("graph",)) for m in order]
    weighted = {name: found for name, found in lists.items() if name in recipe.weights}
    if recipe.method is Method.RANK:

        def ranking(found: Mapping[str, float]) -> list[str]:
            return sorted(found, key=lambda m: (-found[m], -when.get(m, 0), m))

        ranked = {name: list(found) if name == "vector" else ranking(found) for name, found in weighted.items()}
        return reciprocal_rank_fusion(ranked, weights={n: recipe.weights[n] for n in ranked}, k=recipe.rrf_k)
    others = {name: found for name, found in weighted.items() if name != "vector"}
    return boosted_score_fusion(vector, others, {n: recipe.weights[n] for n in others})
