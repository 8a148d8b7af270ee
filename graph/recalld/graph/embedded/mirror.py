"""The networkx mirror of the embedded store: per entity namespace, a MultiDiGraph of its entities
and relations, loaded from SQLite at first use and kept in step after each committed write (or
dropped, to be loaded again), so walks never touch disk. Shared by the writes, the entity graph
and erasure."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path as FsPath
from typing import Any

import networkx as nx

from recalld.graph.embedded.connection import EmbeddedStoreBase
from recalld.kernel.domain import Edge, Memory, Scope


class GraphMirror(EmbeddedStoreBase):
    """The mirrored graphs (``_graphs``, under ``_graph_lock``) and what walks derive from them
    (``_adjacency``)."""

    def __init__(self, *, path: FsPath) -> None:
        super().__init__(path=path)
        self._graphs: dict[str, nx.MultiDiGraph] = {}
        # per namespace: node -> its incident edges, as walks read them (_incident_all)
        self._adjacency: dict[str, dict[str, list[tuple[Edge, str, dict[str, Any]]]]] = {}
        self._graph_lock = threading.Lock()

    def _graph(self, namespace: str) -> nx.MultiDiGraph:
        with self._graph_lock:
            g = self._graphs.get(namespace)
            if g is None:
                g = self._load_graph(namespace)
                self._graphs[namespace] = g
            return g

    def _load_graph(self, namespace: str) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph()
        for r in self._conn.execute("SELECT norm, name, type FROM entities WHERE namespace=?", (namespace,)):
            g.add_node(r[0], name=r[1], type=r[2])
        for r in self._conn.execute(
            "SELECT id, memory_id, user_id, agent_id, run_id, subject, predicate, object, valid_from, valid_to "
            "FROM relations WHERE namespace=?",
            (namespace,),
        ):
            g.add_edge(
                r[5],
                r[7],
                key=r[0],
                src=r[5],
                dst=r[7],
                predicate=r[6],
                memory_id=r[1],
                scope=Scope(r[2], r[3], r[4]),
                valid_from=r[8],
                valid_to=r[9],
            )
        return g

    def _mirror_changed(self, namespace: str) -> None:
        """Forget what was derived from this namespace's mirror (the walks' adjacency lists)."""
        self._adjacency.pop(namespace, None)

    def _mirror_add(self, m: Memory) -> None:
        with self._graph_lock:
            g = self._graphs.get(m.scope.namespace)
        if g is None:
            return  # not loaded yet: the first use loads it from SQLite
        self._mirror_changed(m.scope.namespace)
        for rel_id, s, p, o, vf, vt, names in self._relations_of(m.id):
            for key, (name, typ) in names.items():
                if key not in g:
                    g.add_node(key, name=name, type=typ)
            g.add_edge(
                s, o, key=rel_id, src=s, dst=o, predicate=p, memory_id=m.id, scope=m.scope, valid_from=vf, valid_to=vt
            )

    def _relations_of(
        self, memory_id: str
    ) -> Iterator[tuple[int, str, str, str, int | None, int | None, dict[str, tuple[str, str]]]]:
        rows = self._conn.execute(
            "SELECT r.id, r.subject, r.predicate, r.object, e1.name, e1.type, e2.name, e2.type, r.valid_from, "
            "r.valid_to FROM relations r "
            "JOIN entities e1 ON e1.namespace=r.namespace AND e1.norm=r.subject "
            "JOIN entities e2 ON e2.namespace=r.namespace AND e2.norm=r.object WHERE r.memory_id=?",
            (memory_id,),
        )
        for r in rows:
            yield r[0], r[1], r[2], r[3], r[8], r[9], {r[1]: (r[4], r[5]), r[3]: (r[6], r[7])}

    def _mirror_refresh(self, ids: Sequence[str], namespace: str) -> None:
        """Copy the stored validity of these memories' relations onto their mirrored edges."""
        with self._graph_lock:
            g = self._graphs.get(namespace)
        if g is None:
            return
        self._mirror_changed(namespace)
        wanted = set(ids)
        stored = {rel_id: (vf, vt) for i in wanted for rel_id, _, _, _, vf, vt, _ in self._relations_of(i)}
        for _, _, k, data in g.edges(keys=True, data=True):
            if data["memory_id"] in wanted and k in stored:
                data["valid_from"], data["valid_to"] = stored[k]
                data.pop("edge", None)

    def _mirror_remove(self, ids: Sequence[str], namespace: str, gone: Collection[tuple[str, str]] = ()) -> None:
        with self._graph_lock:
            g = self._graphs.get(namespace)
        if g is None:
            return
        self._mirror_changed(namespace)
        doomed = set(ids)
        drop = [(u, v, k) for u, v, k, mid in g.edges(keys=True, data="memory_id") if mid in doomed]
        g.remove_edges_from(drop)
        g.remove_nodes_from([name for ns, name in gone if ns == namespace and name in g and g.degree(name) == 0])
