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

from collections.abc import Mapping, Sequence

from recalld.kernel.domain import Path, norm

ENTITY, MEMORY = "e:", "m:"


def bipartite_edges(walks: Sequence[Path], memory_entities: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """Memory-entity links of every relation the walks crossed, and of the given memories'
    entities (memory id -> entity names): each once."""
    out: dict[tuple[str, str], None] = {}
    for walk in walks:
        for e in walk.edges:
            out.setdefault((MEMORY + e.memory_id, ENTITY + norm(e.subject)))
            out.setdefault((MEMORY + e.memory_id, ENTITY + norm(e.object)))
    for mid, names in memory_entities.items():
        for name in names:
            out.setdefault((MEMORY + mid, ENTITY + norm(name)))
    return list(out)


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
    sums to 1 (all zeros without a positive seed)."""
    if not 0.0 <= damping < 1.0:
        raise ValueError("damping must be in [0, 1)")
    total = sum(w for w in seeds.values() if w > 0)
    if total <= 0:
        return {n: 0.0 for e in edges for n in e}
    restart = {n: w / total for n, w in seeds.items() if w > 0}
    neighbours: dict[str, list[str]] = {}
    for a, b in edges:
        if a == b:
            continue
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    nodes = list(dict.fromkeys([*neighbours, *restart]))
    rank = {n: restart.get(n, 0.0) for n in nodes}
    for _ in range(iterations):
        nxt = {n: (1.0 - damping) * restart.get(n, 0.0) for n in nodes}
        for n, r in rank.items():
            if not r:
                continue
            out = neighbours.get(n)
            if not out:  # a seed without edges keeps what it has
                nxt[n] += damping * r
                continue
            share = damping * r / len(out)
            for m in out:
                nxt[m] += share
        moved = sum(abs(nxt[n] - rank[n]) for n in nodes)
        rank = nxt
        if moved < tolerance:
            break
    return rank


def memory_scores(rank: Mapping[str, float]) -> dict[str, float]:
    """The memory nodes' activation, keyed by memory id."""
    return {n[len(MEMORY) :]: r for n, r in rank.items() if n.startswith(MEMORY) and r > 0}
