"""The walks of an in-process graph mirror, as index tuples (recalld.kernel.walks).

Breadth-first over simple walks from each seed in turn, shortest first, until ``max_paths``
walks: the order ``GraphStore.expand`` promises. A walk is recorded as its edges' indices into the
walk set's table (each relation once, by identity: a mirror builds each Edge once), so a Search
that enumerates 1,000 walks builds no Path for them; the hits it explains build theirs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from recalld.kernel.domain import Edge, norm
from recalld.kernel.walks import Walks

# an incident edge as a walk step sees it: the relation, the node at its other end, its stored fields
Step = tuple[Edge, str, Mapping[str, Any]]


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
    """Walks of 1..``depth`` edges from each seed (a name; its node is ``norm(name)``, skipped
    unless ``has`` it) over the incident edges that pass ``ok``, never revisiting a node."""
    out = Walks()
    edges, origins, steps = out.edges, out.origins, out.steps
    index: dict[int, int] = {}  # id(edge) -> its index in edges
    room = max_paths
    for seed in seeds:
        key = norm(seed)
        if not has(key):
            continue
        origin = len(out.starts)
        out.starts.append(display(key))
        queue: deque[tuple[str, tuple[int, ...], frozenset[str]]] = deque([(key, (), frozenset([key]))])
        while queue and room > 0:
            node, prefix, seen = queue.popleft()
            extend = len(prefix) + 1 < depth
            for edge, nxt, data in incident(node):
                if nxt in seen or not ok(data):
                    continue
                i = index.get(id(edge))
                if i is None:
                    i = index[id(edge)] = len(edges)
                    edges.append(edge)
                new = (*prefix, i)
                steps.append(new)
                origins.append(origin)
                room -= 1
                if not room:
                    break
                if extend:
                    queue.append((nxt, new, seen | {nxt}))
    return out
