"""IndexLedger: consistency with the vector index. Every memory carries a ``version`` and an
``indexed`` flag (indexed: the index lookup of ``pending_index``); a mark applies only to the exact
version (a later write makes it stale). Drift is what the graph holds that nothing live explains."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from recalld.graph.cypher.runner import LOCK, CypherStoreBase, Query, chunks
from recalld.graph.cypher.schema import MEMORY_COLUMNS
from recalld.graph.cypher.values import row_to_memory
from recalld.kernel.domain import Memory, MemoryState
from recalld.kernel.ports import GraphDrift, PendingIndex

# Marks only the exact version; returns the ids it marked (the rest are stale).
MARK_INDEXED = f"""
UNWIND $done AS d
MATCH (m:Memory {{id: d.id}})
{LOCK}
WITH m, d WHERE m.version = d.version
SET m.indexed = true
RETURN m.id AS id"""

INDEX_TARGETS = f"""
UNWIND $ids AS mid
MATCH (m:Memory {{id: mid}})
RETURN {MEMORY_COLUMNS}"""

PENDING_INDEX = f"""
MATCH (m:Memory) WHERE m.indexed = false
RETURN {MEMORY_COLUMNS} ORDER BY created_at, id LIMIT $limit"""

INDEX_STATE = "MATCH (m:Memory) RETURN m.id AS id, m.state AS state"

ORPHAN_RELATIONS = """
MATCH (s)-[r:REL]->(o)
OPTIONAL MATCH (m:Memory {id: r.memory_id})
WITH s, r, o, m WHERE m IS NULL OR m.state <> 'active'
RETURN s.norm AS subject, r.predicate AS predicate, o.norm AS object, r.memory_id AS memory_id"""

ORPHAN_ENTITIES = """
MATCH (e:Entity)
OPTIONAL MATCH (e)-[x:REL]-()
WITH e, count(x) AS degree WHERE degree = 0
RETURN e.namespace AS namespace, e.name AS name"""


def mark_indexed_query(done: Mapping[str, int]) -> Query:
    return Query("mark_indexed", MARK_INDEXED, {"done": [{"id": i, "version": v} for i, v in done.items()]})


def index_targets_query(ids: Sequence[str]) -> Query:
    return Query("index_targets", INDEX_TARGETS, {"ids": list(dict.fromkeys(ids))})


def pending_index_query(limit: int) -> Query:
    return Query("pending_index", PENDING_INDEX, {"limit": limit})


def _pending(rows: Sequence[Memory]) -> PendingIndex:
    return PendingIndex(
        upserts=tuple((m, m.version) for m in rows if m.state is MemoryState.ACTIVE),
        deletes=tuple((m.id, m.version) for m in rows if m.state is not MemoryState.ACTIVE),
    )


class CypherIndexLedger(CypherStoreBase):
    """IndexLedger over the runner."""

    async def pending_index(self, limit: int) -> PendingIndex:
        rows = [row_to_memory(r) for r in await self._runner.read(pending_index_query(limit))] if limit > 0 else []
        return _pending(rows)

    async def mark_indexed(self, done: Mapping[str, int]) -> set[str]:
        if not done:
            return set()
        marked = {r["id"] for r in await self._runner.write(mark_indexed_query(done))}
        return set(done) - marked

    async def index_targets(self, ids: Sequence[str]) -> PendingIndex:
        rows: list[Memory] = []
        for chunk in chunks(ids):
            rows += map(row_to_memory, await self._runner.read(index_targets_query(chunk)))
        return _pending(rows)

    async def index_state(self) -> dict[str, bool]:
        rows = await self._runner.read(Query("index_state", INDEX_STATE))
        return {r["id"]: r["state"] == MemoryState.ACTIVE.value for r in rows}

    async def graph_drift(self, samples: int = 10) -> GraphDrift:
        rels = await self._runner.read(Query("orphan_relations", ORPHAN_RELATIONS))
        ents = await self._runner.read(Query("orphan_entities", ORPHAN_ENTITIES))
        return GraphDrift(
            orphan_relations=len(rels),
            orphan_entities=len(ents),
            relation_samples=tuple(
                f"{r['subject']} -{r['predicate']}-> {r['object']} (memory {r['memory_id']})" for r in rels[:samples]
            ),
            entity_samples=tuple(f"{r['namespace']}/{r['name']}" for r in ents[:samples]),
        )
