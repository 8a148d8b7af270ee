"""EntityGraph of the embedded store, the lookups: the relations of a subject and the aliases in
the scope's namespace (SQLite), the known entities among names (the networkx mirror) and the
entities each memory's relations touch."""

from __future__ import annotations

from collections.abc import Sequence

from recalld.graph.embedded.mirror import GraphMirror
from recalld.graph.embedded.sql import chunks, scope_sql
from recalld.kernel.domain import Scope, norm
from recalld.kernel.ports import Relation


class EmbeddedEntityLookups(GraphMirror):
    """Entities by name, the aliases naming them, relations by subject, entities by memory."""

    async def find_relations(
        self, scope: Scope, subjects: Sequence[str], predicates: Sequence[str], objects: Sequence[str] = ()
    ) -> list[Relation]:
        return await self._run(
            self._relations_sync,
            scope,
            list(dict.fromkeys(norm(x) for x in subjects)),
            list(dict.fromkeys(predicates)),
            list(dict.fromkeys(norm(x) for x in objects)),
        )

    def _relations_sync(
        self, scope: Scope, subjects: list[str], predicates: list[str], objects: list[str]
    ) -> list[Relation]:
        where, params = scope_sql(scope)
        pmarks, omarks = ",".join("?" * len(predicates)), ",".join("?" * len(objects))
        out: list[Relation] = []
        for chunk in chunks(subjects, 200):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                # several subjects: the planner, without statistics, would scan the namespace
                f"SELECT memory_id, subject, predicate, object FROM relations INDEXED BY rel_subject WHERE namespace=? "
                f"AND subject IN ({marks}) AND (predicate IN ({pmarks}) OR object IN ({omarks})) "
                f"AND valid_to IS NULL AND {where} ORDER BY id",
                [scope.namespace, *chunk, *predicates, *objects, *params],
            )
            out += [Relation(r[0], r[1], r[2], r[3]) for r in rows]
        return out

    async def resolve_aliases(self, scope: Scope, names: Sequence[str]) -> dict[str, str]:
        return await self._run(self._aliases_sync, scope, list(names))

    def _aliases_sync(self, scope: Scope, names: list[str]) -> dict[str, str]:
        keys = list(dict.fromkeys(norm(n) for n in names))
        found: dict[str, str] = {}
        for chunk in chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT a.alias, e.name FROM aliases a JOIN entities e ON e.namespace=a.namespace AND e.norm=a.entity "
                f"WHERE a.namespace=? AND a.alias IN ({marks})",
                [scope.namespace, *chunk],
            )
            found.update((r[0], r[1]) for r in rows)
        return {n: found[norm(n)] for n in names if norm(n) in found}

    async def link_entities(self, scope: Scope, names: Sequence[str]) -> list[str]:
        return await self._run(self._link_sync, scope, list(names))

    def _link_sync(self, scope: Scope, names: list[str]) -> list[str]:
        g = self._graph(scope.namespace)
        out: list[str] = []
        for name in names:
            key = norm(name)
            if key in g and key not in out:
                out.append(key)
        return out

    async def memory_entities(self, memory_ids: Sequence[str]) -> dict[str, list[str]]:
        return await self._run(self._memory_entities_sync, list(memory_ids))

    def _memory_entities_sync(self, ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for chunk in chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for r in self._conn.execute(
                f"SELECT memory_id, subject, object FROM relations WHERE memory_id IN ({marks})", chunk
            ):
                names = out.setdefault(r[0], [])
                for n in (r[1], r[2]):
                    if n not in names:
                        names.append(n)
        return out
