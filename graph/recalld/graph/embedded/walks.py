"""EntityGraph of the embedded store, the traversals: walks from seeds (``expand``, and
``expand_walks`` as index tuples), subgraphs and paths between two entities, in process over the
networkx mirror (mirror.py) on the store's thread; only aliases are read from SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import networkx as nx

from recalld.graph.embedded.entities import EmbeddedEntityLookups
from recalld.graph.embedded.sql import chunks, opt_dt
from recalld.graph.walking import walk
from recalld.kernel.domain import CURRENT, Edge, EntityNode, Path, Scope, Subgraph, Validity, norm
from recalld.kernel.times import to_micros as _ts
from recalld.kernel.walks import Walks


class EmbeddedEntityWalks(EmbeddedEntityLookups):
    """Walks, subgraphs and paths over the mirrored relations visible in a scope."""

    async def expand(
        self, scope: Scope, seeds: Sequence[str], depth: int, max_paths: int, validity: Validity = CURRENT
    ) -> list[Path]:
        return (await self.expand_walks(scope, seeds, depth, max_paths, validity)).paths()

    async def expand_walks(
        self, scope: Scope, seeds: Sequence[str], depth: int, max_paths: int, validity: Validity = CURRENT
    ) -> Walks:
        """The walks of ``expand`` as index tuples (recalld.kernel.walks; recalld.graph.walking)."""
        return await self._run(self._walks_sync, scope, list(seeds), depth, max_paths, validity)

    def _walks_sync(self, scope: Scope, seeds: list[str], depth: int, max_paths: int, validity: Validity) -> Walks:
        g = self._graph(scope.namespace)
        adjacency = self._adjacency.setdefault(scope.namespace, {})

        def incident(node: str) -> list[tuple[Edge, str, dict[str, Any]]]:
            found = adjacency.get(node)
            if found is None:
                found = adjacency[node] = self._incident_all(g, node)
            return found

        return walk(
            seeds,
            depth,
            max_paths,
            has=g.__contains__,
            display=lambda key: self._display(g, key),
            incident=incident,
            ok=_edge_filter(scope, validity),
        )

    def _incident_all(self, g: nx.MultiDiGraph, node: str) -> list[tuple[Edge, str, dict[str, Any]]]:
        """Every mirrored edge at ``node`` (out, then in), with the node at its other end and its
        stored fields: what a walk step filters. Kept per namespace in ``_adjacency`` until the
        mirror of that namespace changes (every change drops it: _mirror_changed)."""
        out = [(self._edge(g, u, v, d), v, d) for u, v, d in g.out_edges(node, data=True)]
        out += [(self._edge(g, u, v, d), u, d) for u, v, d in g.in_edges(node, data=True)]
        return out

    def _incident(
        self, g: nx.MultiDiGraph, node: str, ok: Callable[[dict[str, Any]], bool]
    ) -> Iterator[tuple[Edge, str]]:
        return ((edge, other) for edge, other, data in self._incident_all(g, node) if ok(data))

    @staticmethod
    def _display(g: nx.MultiDiGraph, key: str) -> str:
        return str(g.nodes[key].get("name", key))

    def _edge(self, g: nx.MultiDiGraph, u: str, v: str, data: dict[str, Any]) -> Edge:
        # Orientation comes from the stored relation, not from how it was reached. Built once per
        # mirrored edge (a walk from a hub meets hundreds per search); _mirror_refresh drops it.
        edge = data.get("edge")
        if edge is None:
            edge = data["edge"] = Edge(
                self._display(g, data["src"]),
                data["predicate"],
                self._display(g, data["dst"]),
                data["memory_id"],
                opt_dt(data["valid_from"]),
                opt_dt(data["valid_to"]),
            )
        return edge

    async def subgraph(
        self, scope: Scope, entity: str, depth: int, limit: int, validity: Validity = CURRENT
    ) -> Subgraph | None:
        return await self._run(self._subgraph_sync, scope, entity, depth, limit, validity)

    def _subgraph_sync(self, scope: Scope, entity: str, depth: int, limit: int, validity: Validity) -> Subgraph | None:
        g = self._graph(scope.namespace)
        ok = _edge_filter(scope, validity)
        start = self._resolve_node(g, scope.namespace, entity)
        if start is None or not any(True for _ in self._incident(g, start, ok)):
            return None
        nodes = {start}
        edges: dict[tuple[str, str, str, str], Edge] = {}
        frontier = [start]
        for _ in range(depth):
            nxt_frontier: list[str] = []
            for node in frontier:
                for edge, other in self._incident(g, node, ok):
                    key = (edge.subject, edge.predicate, edge.object, edge.memory_id)
                    if key not in edges and len(edges) < limit:
                        edges[key] = edge
                        if other not in nodes:
                            nodes.add(other)
                            nxt_frontier.append(other)
            frontier = nxt_frontier
        aliases: dict[str, list[str]] = {}
        for chunk in chunks(sorted(nodes), 500):
            marks = ",".join("?" * len(chunk))
            for r in self._conn.execute(
                f"SELECT entity, alias FROM aliases WHERE namespace=? AND entity IN ({marks}) ORDER BY alias",
                [scope.namespace, *chunk],
            ):
                aliases.setdefault(r[0], []).append(r[1])
        return Subgraph(
            nodes=tuple(
                EntityNode(self._display(g, n), str(g.nodes[n].get("type", "entity")), tuple(aliases.get(n, ())))
                for n in nodes
            ),
            edges=tuple(edges.values()),
        )

    def _resolve_node(self, g: nx.MultiDiGraph, namespace: str, name: str) -> str | None:
        """The node a name denotes: the entity itself, or the entity it is an alias of."""
        key = norm(name)
        if key in g:
            return key
        row = self._conn.execute(
            "SELECT entity FROM aliases WHERE namespace=? AND alias=?", (namespace, key)
        ).fetchone()
        return row[0] if row is not None and row[0] in g else None

    async def paths_between(
        self, scope: Scope, source: str, target: str, max_depth: int, limit: int, validity: Validity = CURRENT
    ) -> list[Path] | None:
        return await self._run(self._paths_sync, scope, source, target, max_depth, limit, validity)

    def _paths_sync(
        self, scope: Scope, source: str, target: str, max_depth: int, limit: int, validity: Validity
    ) -> list[Path] | None:
        g = self._graph(scope.namespace)
        s = self._resolve_node(g, scope.namespace, source)
        t = self._resolve_node(g, scope.namespace, target)
        if s is None or t is None:
            return None
        ok = _edge_filter(scope, validity)
        view = nx.subgraph_view(g, filter_edge=lambda u, v, k: ok(g.edges[u, v, k]))
        undirected = view.to_undirected(as_view=True)
        found: list[Path] = []
        for edge_path in nx.all_simple_edge_paths(undirected, s, t, cutoff=max_depth):
            edges = [self._edge(g, u, v, undirected.edges[u, v, k]) for u, v, k in edge_path]
            found.append(Path(start=self._display(g, s), edges=tuple(edges)))
        found.sort(key=lambda p: len(p.edges))
        return found[:limit]


def _edge_filter(scope: Scope, validity: Validity) -> Callable[[Mapping[str, Any]], bool]:
    """Mirrored edges a walk may follow: visible in the scope and valid per ``validity``."""
    # the mirror walked is the scope's namespace: with a user-only filter every edge in it is visible
    own_namespace = scope.filter_items() == [("user_id", scope.user_id)]
    visible: Callable[[Mapping[str, Any]], bool] = _always if own_namespace else lambda d: scope.contains(d["scope"])
    if validity.include_retired:
        return visible
    if validity.as_of is not None:
        t = _ts(validity.as_of)
        return lambda d: (
            visible(d)
            and (d["valid_from"] is None or d["valid_from"] <= t)
            and (d["valid_to"] is None or d["valid_to"] > t)
        )
    if visible is _always:
        return lambda d: d["valid_to"] is None
    return lambda d: d["valid_to"] is None and visible(d)


def _always(_: Mapping[str, Any]) -> bool:
    return True
