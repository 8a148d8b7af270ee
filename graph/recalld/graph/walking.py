"""The walks of an in-process graph mirror, as index tuples (recalld.kernel.walks).

Breadth-first over simple walks, one length at a time across the seeds (every seed's one-edge
walks in seed order, then their two-edge walks, ...), until ``max_paths`` walks: the order
``GraphStore.expand`` promises. A seed's direct relations are never crowded out by another
seed's longer walks through a hub (the user's own node touches most of their memory). A walk is
recorded as its edges' indices into the walk set's table (each relation once, by identity: a
mirror builds each Edge once), so a Search that enumerates 1,000 walks builds no Path for them;
the hits it explains build theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from recalld.kernel.domain import Edge, norm
from recalld.kernel.walks import Walks

# an incident edge as a walk step sees it: the relation, the node at its other end, its stored fields
Step = tuple[Edge, str, Mapping[str, Any]]
# walks still to extend: (the node reached, the walk's edge indices, the nodes it visited)
_Frontier = list[tuple[str, tuple[int, ...], frozenset[str]]]


def walk(
    seeds: Sequence[str],
    depth: int,
    max_paths: int,
    *,
    has: Callable[[str], bool],
    display: Callable[[str], str],
    incident: Callable[[str], Sequence[Step]],
    ok: Callable[[Mapping[str, Any]], bool],
) -> Walks:
    """Walks of 1..``depth`` edges from the seeds (names; a seed's node is ``norm(name)``, skipped
    unless ``has`` it) over the incident edges that pass ``ok``, never revisiting a node: every
    seed's walks of one length before any walk one edge longer."""
    out = Walks()
    edges, origins, steps = out.edges, out.origins, out.steps
    index: dict[int, int] = {}  # id(edge) -> its index in edges
    room = max_paths
    # per seed: its node, its place in out.starts (-1 until its first walk), the walks to extend
    seeded: list[tuple[str, list[int], _Frontier]] = []
    for seed in seeds:
        key = norm(seed)
        if has(key):
            seeded.append((key, [-1], [(key, (), frozenset([key]))]))
    for length in range(1, depth + 1):
        extend = length < depth
        for n, (key, origin, frontier) in enumerate(seeded):
            longer: _Frontier = []
            for node, prefix, seen in frontier:
                for edge, nxt, data in incident(node):
                    if nxt in seen or not ok(data):
                        continue
                    i = index.get(id(edge))
                    if i is None:
                        i = index[id(edge)] = len(edges)
                        edges.append(edge)
                    if origin[0] < 0:
                        origin[0] = len(out.starts)
                        out.starts.append(display(key))
                    new = (*prefix, i)
                    steps.append(new)
                    origins.append(origin[0])
                    room -= 1
                    if not room:
                        return out
                    if extend:
                        longer.append((nxt, new, seen | {nxt}))
            seeded[n] = (key, origin, longer)
    return out
