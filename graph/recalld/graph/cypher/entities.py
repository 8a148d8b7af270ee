"""EntityGraph, the lookups: entities by name, the aliases naming them, the relations of a
subject and the entities each memory's relations touch. Entities are found through their indexed
key (recalld.graph.cypher.values.entity_key), never by a caller's string."""

from __future__ import annotations

from collections.abc import Sequence

from recalld.graph.cypher.predicates import scope_predicate
from recalld.graph.cypher.runner import CypherStoreBase, Query, chunks
from recalld.graph.cypher.values import entity_key, lookup_key
from recalld.kernel.domain import Scope, norm
from recalld.kernel.ports import Relation

# The WITH makes the entity key a value before the second MATCH: FalkorDB plans
# ``MATCH (e:Entity {key: a.entity_key})`` as a hash join against every Entity node
# (tests/contract/test_falkordb_plans.py).
RESOLVE_ALIASES = """
UNWIND $keys AS k
MATCH (a:Alias {key: k})
WITH k, a.entity_key AS ek
MATCH (e:Entity {key: ek})
RETURN k AS key, e.name AS name"""

ENTITY_ALIASES = """
UNWIND $keys AS k
MATCH (a:Alias {entity_key: k})
RETURN k AS key, a.alias AS alias ORDER BY alias"""

FIND_ENTITIES = """
UNWIND $keys AS k
MATCH (e:Entity {key: k})
RETURN e.norm AS norm, e.name AS name, e.type AS type"""

# Anchored on the relationship index: FalkorDB planned the (s:Entity)-[r]->(o:Entity) form
# as a label scan of every entity per id (measured: hybrid search 640 ms at 10k memories).
MEMORY_ENTITIES = """
UNWIND $ids AS mid
MATCH ()-[r:REL {memory_id: mid}]->()
RETURN mid AS memory_id, startNode(r).norm AS subject, endNode(r).norm AS object, r.ord AS ord ORDER BY ord"""


def find_relations_query(
    scope: Scope, subjects: Sequence[str], predicates: Sequence[str], objects: Sequence[str] = ()
) -> Query:
    where, params = scope_predicate("r", scope)
    text = (
        "UNWIND $keys AS k MATCH (s:Entity {key: k})-[r:REL]->(o:Entity) "
        f"WHERE r.valid_to IS NULL AND (r.predicate IN $predicates OR o.norm IN $objects) AND {where} "
        "RETURN r.memory_id AS memory_id, s.norm AS subject, r.predicate AS predicate, o.norm AS object, "
        "r.created_at AS created_at, r.ord AS ord ORDER BY created_at, memory_id, ord"
    )
    keys = list(dict.fromkeys(entity_key(scope.namespace, norm(x)) for x in subjects))
    extra = {"predicates": list(dict.fromkeys(predicates)), "objects": list(dict.fromkeys(norm(x) for x in objects))}
    return Query("find_relations", text, {"keys": keys, **extra, **params})


def resolve_aliases_query(scope: Scope, names: Sequence[str]) -> Query:
    keys = list(dict.fromkeys(lookup_key("alias", scope.namespace, norm(n)) for n in names))
    return Query("resolve_aliases", RESOLVE_ALIASES, {"keys": keys})


def entity_aliases_query(namespace: str, norms: Sequence[str]) -> Query:
    return Query("entity_aliases", ENTITY_ALIASES, {"keys": [entity_key(namespace, n) for n in norms]})


def find_entities_query(scope: Scope, names: Sequence[str]) -> Query:
    ns = scope.namespace
    keys = list(dict.fromkeys(entity_key(ns, norm(n)) for n in names))
    return Query("find_entities", FIND_ENTITIES, {"keys": keys})


def memory_entities_query(ids: Sequence[str]) -> Query:
    return Query("memory_entities", MEMORY_ENTITIES, {"ids": list(dict.fromkeys(ids))})


class CypherEntityLookups(CypherStoreBase):
    """The lookups of EntityGraph over the runner."""

    async def find_relations(
        self, scope: Scope, subjects: Sequence[str], predicates: Sequence[str], objects: Sequence[str] = ()
    ) -> list[Relation]:
        if not subjects or not (predicates or objects):
            return []
        rows = await self._runner.read(find_relations_query(scope, subjects, predicates, objects))
        return [Relation(r["memory_id"], r["subject"], r["predicate"], r["object"]) for r in rows]

    async def resolve_aliases(self, scope: Scope, names: Sequence[str]) -> dict[str, str]:
        if not names:
            return {}
        found = {r["key"]: r["name"] for r in await self._runner.read(resolve_aliases_query(scope, names))}
        out: dict[str, str] = {}
        for n in names:
            key = lookup_key("alias", scope.namespace, norm(n))
            if key in found:
                out[n] = found[key]
        return out

    async def _canonical(self, scope: Scope, name: str) -> str:
        """The entity a name denotes: itself, or the entity it is an alias of."""
        return (await self.resolve_aliases(scope, [name])).get(name, name)

    async def _entities(self, scope: Scope, names: Sequence[str]) -> dict[str, tuple[str, str]]:
        """norm -> (display name, type) of the known entities among ``names``."""
        rows = await self._runner.read(find_entities_query(scope, names))
        return {r["norm"]: (r["name"], r["type"]) for r in rows}

    async def link_entities(self, scope: Scope, names: Sequence[str]) -> list[str]:
        if not names:
            return []
        known = await self._entities(scope, names)
        return [k for k in dict.fromkeys(norm(n) for n in names) if k in known]

    async def memory_entities(self, memory_ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for chunk in chunks(memory_ids):
            for r in await self._runner.read(memory_entities_query(chunk)):
                names = out.setdefault(r["memory_id"], [])
                names += [n for n in (r["subject"], r["object"]) if n not in names]
        return out
