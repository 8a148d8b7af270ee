"""MemoryReads: memories and episodes by id, scope, content hash or attribute, their history,
expiry and counts. Only active memories, filtered inside the statement (never after)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from recalld.graph.cypher.predicates import metadata_predicate, scope_predicate, time_predicate, validity_predicate
from recalld.graph.cypher.runner import CypherStoreBase, Query, chunks
from recalld.graph.cypher.schema import MEMORY_COLUMNS
from recalld.graph.cypher.values import dedup_key, lookup_key, row_to_memory
from recalld.graph.rows import attribute_name_marker, history_from_fields
from recalld.kernel.domain import CURRENT, HistoryEntry, Memory, MetadataFilter, Scope, TimeRange, Validity
from recalld.kernel.ports import Cursor
from recalld.kernel.times import to_micros

GET_ALL = f"""
UNWIND $ids AS mid
MATCH (m:Memory {{id: mid}}) WHERE m.state = 'active'
RETURN {MEMORY_COLUMNS} ORDER BY id"""

FIND_BY_HASH = """
UNWIND $lookups AS l
MATCH (m:Memory {dedup_key: l[0]})
WHERE m.state = 'active' AND m.valid_to IS NULL AND m.hash = l[1]
  AND m.user_id = $user_id AND m.agent_id = $agent_id AND m.run_id = $run_id
RETURN m.hash AS hash, m.id AS id"""

COUNT_MEMORIES = "MATCH (m:Memory) WHERE m.state = 'active' RETURN count(m) AS total"

# Expiry (TTL): the memories a sweep deletes, oldest expiry first (Memory.expires_at is indexed).
EXPIRED_MEMORIES = """
MATCH (m:Memory) WHERE m.expires_at <= $now AND m.state = 'active'
RETURN m.id AS id, m.expires_at AS expires_at ORDER BY expires_at, id LIMIT $limit"""

EPISODE_EXISTS = "MATCH (e:Episode {id: $id}) RETURN count(e) AS total"

COUNT_USER_MEMORIES = """
MATCH (m:Memory {user_key: $user_key}) WHERE m.user_id = $user_id AND m.state = 'active'
RETURN count(m) AS total"""


def get_memories_query(
    ids: Sequence[str],
    scope: Scope,
    filters: Sequence[MetadataFilter],
    time_range: TimeRange | None,
    validity: Validity | None = None,
) -> Query:
    where, params = scope_predicate("m", scope)
    ftext, fparams = metadata_predicate(filters)
    ttext, tparams = time_predicate(time_range)
    vtext, vparams = validity_predicate("m", validity)
    ttext, tparams = ttext + vtext, {**tparams, **vparams}
    text = (
        f"UNWIND $ids AS mid MATCH (m:Memory {{id: mid}}) WHERE m.state = 'active' AND {where}{ftext}{ttext} "
        f"RETURN {MEMORY_COLUMNS}"
    )
    return Query("get_memories", text, {"ids": list(dict.fromkeys(ids)), **params, **fparams, **tparams})


def get_all_query(ids: Sequence[str]) -> Query:
    return Query("get_all", GET_ALL, {"ids": list(dict.fromkeys(ids))})


def get_any_query(memory_id: str, scope: Scope) -> Query:
    where, params = scope_predicate("m", scope)
    return Query(
        "get_any", f"MATCH (m:Memory {{id: $id}}) WHERE {where} RETURN {MEMORY_COLUMNS}", {"id": memory_id, **params}
    )


def list_memories_query(
    scope: Scope, filters: Sequence[MetadataFilter], limit: int, after: Cursor | None, include_retired: bool = True
) -> Query:
    where, params = scope_predicate("m", scope)
    ftext, fparams = metadata_predicate(filters)
    if not include_retired:
        ftext += " AND m.valid_to IS NULL"
    ctext, cparams = "", {}
    if after is not None:
        ctext = " AND (m.created_at < $after_ts OR (m.created_at = $after_ts AND m.id < $after_id))"
        cparams = {"after_ts": to_micros(after.created_at), "after_id": after.memory_id}
    text = (
        f"MATCH (m:Memory) WHERE m.state = 'active' AND {where}{ftext}{ctext} "
        f"RETURN {MEMORY_COLUMNS} ORDER BY created_at DESC, id DESC LIMIT $limit"
    )
    return Query("list_memories", text, {**params, **fparams, **cparams, "limit": limit})


def find_scope_ids_query(scope: Scope) -> Query:
    where, params = scope_predicate("m", scope)
    text = (
        f"MATCH (m:Memory) WHERE m.state = 'active' AND {where} "
        "RETURN m.id AS id, m.created_at AS created_at ORDER BY created_at, id"
    )
    return Query("find_scope_ids", text, params)


def find_by_hash_query(scope: Scope, hashes: Sequence[str]) -> Query:
    """Exactly this scope: unset fields must be unset on the memory too."""
    s = scope
    return Query(
        "find_by_hash",
        FIND_BY_HASH,
        {
            "lookups": [[dedup_key(s, h), h] for h in dict.fromkeys(hashes)],
            "user_id": s.user_id,
            "agent_id": s.agent_id,
            "run_id": s.run_id,
        },
    )


def history_query(memory_id: str, scope: Scope) -> Query:
    where, params = scope_predicate("m", scope)
    text = (
        f"MATCH (m:Memory {{id: $id}}) WHERE {where} "
        "OPTIONAL MATCH (h:History {memory_id: m.id}) "
        "RETURN h.memory_id AS memory_id, h.event AS event, h.old_text AS old_text, h.new_text AS new_text, "
        "h.at AS at, h.seq AS seq, h.actor AS actor, h.rule AS rule, h.episode_id AS episode_id, "
        "h.old_triples AS old_triples, h.new_triples AS new_triples ORDER BY seq"
    )
    return Query("history", text, {"id": memory_id, **params})


def attributed_memories_query(scope: Scope, validity: Validity | None = CURRENT, names: Sequence[str] = ()) -> Query:
    where, params = scope_predicate("m", scope)
    vtext, vparams = validity_predicate("m", validity)
    if names:
        vtext += " AND any(x IN $attribute_markers WHERE m.attributes CONTAINS x)"
        vparams = {**vparams, "attribute_markers": [attribute_name_marker(n) for n in names]}
    text = (
        f"MATCH (m:Memory) WHERE m.state = 'active' AND {where} AND m.attributes <> '[]'{vtext} "
        f"RETURN {MEMORY_COLUMNS} ORDER BY reference_time, id"
    )
    return Query("attributed_memories", text, {**params, **vparams})


def episode_exists_query(episode_id: str) -> Query:
    return Query("episode_exists", EPISODE_EXISTS, {"id": episode_id})


def expired_memories_query(now: datetime, limit: int) -> Query:
    return Query("expired_memories", EXPIRED_MEMORIES, {"now": to_micros(now), "limit": limit})


def count_user_memories_query(user_id: str) -> Query:
    return Query("count_user_memories", COUNT_USER_MEMORIES, {"user_key": lookup_key(user_id), "user_id": user_id})


class CypherMemoryReads(CypherStoreBase):
    """MemoryReads over the runner; long id lists are read in chunks."""

    async def get_memories(
        self,
        ids: Sequence[str],
        scope: Scope,
        filters: Sequence[MetadataFilter] = (),
        time_range: TimeRange | None = None,
        validity: Validity | None = None,
    ) -> dict[str, Memory]:
        out: dict[str, Memory] = {}
        for chunk in chunks(ids):
            rows = await self._runner.read(get_memories_query(chunk, scope, filters, time_range, validity))
            out.update((m.id, m) for m in map(row_to_memory, rows))
        return out

    async def get_all(self, ids: Sequence[str]) -> list[Memory]:
        out: list[Memory] = []
        for chunk in chunks(ids):
            out += map(row_to_memory, await self._runner.read(get_all_query(chunk)))
        return out

    async def get_any(self, memory_id: str, scope: Scope) -> Memory | None:
        rows = await self._runner.read(get_any_query(memory_id, scope))
        return row_to_memory(rows[0]) if rows else None

    async def list_memories(
        self,
        scope: Scope,
        filters: Sequence[MetadataFilter],
        limit: int,
        after: Cursor | None,
        *,
        include_retired: bool = True,
    ) -> list[Memory]:
        if limit <= 0:
            return []
        rows = await self._runner.read(list_memories_query(scope, filters, limit, after, include_retired))
        return [row_to_memory(r) for r in rows]

    async def find_scope_ids(self, scope: Scope) -> list[str]:
        return [r["id"] for r in await self._runner.read(find_scope_ids_query(scope))]

    async def find_by_hash(self, scope: Scope, hashes: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in chunks(hashes):
            out.update((r["hash"], r["id"]) for r in await self._runner.read(find_by_hash_query(scope, chunk)))
        return out

    async def history(self, memory_id: str, scope: Scope) -> list[HistoryEntry] | None:
        rows = await self._runner.read(history_query(memory_id, scope))
        if not rows:
            return None
        return [
            history_from_fields(r)
            for r in rows
            if r["memory_id"] is not None  # OPTIONAL MATCH: one all-null row when there is no history
        ]

    async def attributed_memories(
        self, scope: Scope, validity: Validity | None = CURRENT, names: Sequence[str] = ()
    ) -> list[Memory]:
        query = attributed_memories_query(scope, validity, names)
        return [row_to_memory(r) for r in await self._runner.read(query)]

    async def episode_exists(self, episode_id: str) -> bool:
        rows = await self._runner.read(episode_exists_query(episode_id))
        return bool(rows) and int(rows[0]["total"]) > 0

    async def expired_memories(self, now: datetime, limit: int) -> list[str]:
        if limit <= 0:
            return []
        return [r["id"] for r in await self._runner.read(expired_memories_query(now, limit))]

    async def count_memories(self) -> int:
        rows = await self._runner.read(Query("count_memories", COUNT_MEMORIES))
        return int(rows[0]["total"]) if rows else 0

    async def count_user_memories(self, user_id: str) -> int:
        rows = await self._runner.read(count_user_memories_query(user_id))
        return int(rows[0]["total"]) if rows else 0
