"""Spreading activation over the part of a scope's graph a Search walked: personalized PageRank.

The walks of a Search (recalld.core.retrieval) are a small subgraph around what the query names.
Scored walk by walk, a memory two relations away from a named entity counts half as much as one
next to it, however many paths lead there, and a hub (the user's own node, one hop from every
first-person fact) lends the same weight to each of its hundreds of edges. Personalized PageRank
(as in HippoRAG 2, Gutiérrez et al. 2025) scores the same subgraph as a whole: activation starts
at the seeds (the entities the query names, and the memories the vector search found best),
spreads along relations, and returns to the seeds with probability ``1 - damping`` at every
step. A memory that several paths reach gathers more; a hub divides what it receives among all of
its edges, so a generic connection through it counts for little.

The graph is bipartite: entity nodes, and memory nodes linked to the entities of their relations
(the relation's memory is where a fact lives; HippoRAG's passage nodes). Pure and bounded: its
size is the walks' (``max_paths``), and the power iteration stops after ``iterations`` steps or
when it moves less than ``tolerance``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

from recalld.kernel.domain import Path, norm
from recalld.kernel.walks import Walks

ENTITY, MEMORY = "e:", "m:"


def bipartite_edges(
    walks: Walks | Sequence[Path], memory_entities: Mapping[str, Sequence[str]]
) -> list[tuple[str, str]]:
    """Memory-entity links of every relation the walks crossed, and of the given memories'
    entities (memory id -> entity names): each once."""
    # each relation crossed once, first crossed first (walks share their first steps)
    crossed = walks.edges if isinstance(walks, Walks) else Walks.of(walks).edges
    out: dict[tuple[str, str], None] = {}
    for e in crossed:
        memory = MEMORY + e.memory_id
        out.setdefault((memory, _entity(e.subject)))
        out.setdefault((memory, _entity(e.object)))
    for mid, names in memory_entities.items():
        for name in names:
            out.setdefault((MEMORY + mid, _entity(name)))
    return list(out)


@functools.lru_cache(maxsize=65536)
def _entity(name: str) -> str:
    return ENTITY + norm(name)


def personalized_pagerank(
    edges: Sequence[tuple[str, str]],
    seeds: Mapping[str, float],
    *,
    damping: float = 0.5,
    iterations: int = 50,
    tolerance: float = 1e-9,
) -> dict[str, float]:
    """PageRank of every node of the undirected graph ``edges``, restarting at ``seeds`` (node ->
    weight >= 0, normalized here). Seeds not in the graph keep their restart mass. The result
    sums to 1 (all zeros without a positive seed).

    Power iteration on arrays: each step is one ``bincount`` over the directed edge list (each
    undirected edge both ways), so a walked subgraph of a few thousand edges costs tens of
    microseconds per step instead of a Python loop over every edge."""
    if not 0.0 <= damping < 1.0:
        raise ValueError("damping must be in [0, 1)")
    total = sum(w for w in seeds.values() if w > 0)
    if total <= 0:
        return {n: 0.0 for e in edges for n in e}
    index: dict[str, int] = {}
    src: list[int] = []
    dst: list[int] = []
    for a, b in edges:
        if a == b:
            continue
        i = index.setdefault(a, len(index))
        j = index.setdefault(b, len(index))
        src += (i, j)
        dst += (j, i)
    for n, w in seeds.items():
        if w > 0:
            index.setdefault(n, len(index))
    size = len(index)
    restart = np.zeros(size)
    for n, w in seeds.items():
        if w > 0:
            restart[index[n]] = w / total
    s = np.asarray(src, dtype=np.int64)
    d = np.asarray(dst, dtype=np.int64)
    degree = np.bincount(s, minlength=size).astype(np.float64)
    isolated = degree == 0  # a seed without edges keeps what it has
    inverse = np.divide(1.0, degree, out=np.zeros(size), where=~isolated)
    base = (1.0 - damping) * restart
    rank = restart.copy()
    for _ in range(iterations):
        nxt = base + damping * np.bincount(d, weights=(rank * inverse)[s], minlength=size)
        nxt[isolated] += damping * rank[isolated]
        moved = float(np.abs(nxt - rank).sum())
        rank = nxt
        if moved < tolerance:
            break
    return dict(zip(index, rank.tolist(), strict=True))


def memory_scores(rank: Mapping[str, float]) -> dict[str, float]:
    """The memory nodes' activation, keyed by memory id."""
    return {n[len(MEMORY) :]: r for n, r in rank.items() if n.startswith(MEMORY) and r > 0}
