"""MemoryWrites: add, replace, delete and touch memories. Each write is ONE statement (see the
package docstring), guarded by a compare-and-set where it changes an existing memory; delete and
replace follow it with the idempotent removal of the entities left without relations."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from recalld.graph.cypher.predicates import scope_predicate
from recalld.graph.cypher.runner import LOCK, CypherStoreBase, Query, chunks
from recalld.graph.cypher.schema import GENERIC_TYPES, LIFECYCLE_PROPS
from recalld.graph.cypher.values import dedup_key, entity_key, flatten_metadata, lookup_key
from recalld.graph.rows import attributes_json, triples_json
from recalld.kernel.domain import Episode, HistoryEntry, Memory, MemoryState, Scope, norm
from recalld.kernel.errors import Conflict, memory_gone, version_conflict
from recalld.kernel.ports import Retirement
from recalld.kernel.times import to_micros

# Properties replace_memory keeps; it rewrites the others (and drops the old m_* properties).
_KEPT_ON_REPLACE = (
    "id",
    "user_id",
    "agent_id",
    "run_id",
    "user_key",
    "agent_key",
    "run_key",
    "episode_id",
    "reference_time",
    "created_at",
    "state",
    "speaker",
    *LIFECYCLE_PROPS,
)

# A use recorded meanwhile (touch_memories, no new version) is never moved back by a replace.
_LATER_USE = (
    "CASE WHEN $last_used_at IS NOT NULL AND (m.last_used_at IS NULL OR m.last_used_at < $last_used_at) "
    "THEN $last_used_at ELSE m.last_used_at END"
)
_REPLACED_MAP = (
    "{"
    + ", ".join(
        [f"{p}: m.{p}" for p in _KEPT_ON_REPLACE]
        + [f"{p}: ${p}" for p in ("text", "hash", "dedup_key", "metadata", "triples", "updated_at", "version")]
        + [f"{p}: ${p}" for p in ("importance", "expires_at", "attributes")]
        + ["last_used_at: " + _LATER_USE]
        + ["indexed: false"]
    )
    + "}"
)
_GENERIC = "[" + ", ".join(f"'{t}'" for t in GENERIC_TYPES) + "]"

# Entities are pre-aggregated per (namespace, norm) in Python, so each MERGE sees one row per entity.
_MERGE_ENTITIES = f"""
FOREACH (e IN $entities |
  MERGE (n:Entity {{key: e.key}})
    ON CREATE SET n.namespace = e.namespace, n.norm = e.norm, n.name = e.name, n.type = e.type
    ON MATCH SET n.type = CASE WHEN n.type IN {_GENERIC} THEN e.type ELSE n.type END)
FOREACH (r IN $relations |
  MERGE (s:Entity {{key: r.subject}})
  MERGE (o:Entity {{key: r.object}})
  CREATE (s)-[rel:REL]->(o) SET rel = r.props)"""

# Appends $history; expects exactly one incoming row. ``seq`` keeps the insertion order.
_APPEND_HISTORY = """
UNWIND range(0, size($history) - 1) AS i
WITH i, $history[i] AS h
OPTIONAL MATCH (prev:History {memory_id: h.memory_id})
WITH i, h, coalesce(max(prev.seq), 0) AS base
CREATE (x:History) SET x = h, x.seq = base + 1 + i"""


# Confirmations of facts stated again (no new version: the vector does not change; confirmed_at is
# world time, the episode's reference time, and never moves back), then the
# episode, its memories, their entities and relations, the aliases it taught, and the history.
_REINFORCE_AND_ADD = f"""
OPTIONAL MATCH (c:Memory) WHERE c.id IN $reinforce AND c.state = 'active'
WITH go, collect(c) AS cs
FOREACH (c IN cs | SET c.confirmations = coalesce(c.confirmations, 1) + 1,
  c.confirmed_at = CASE WHEN c.confirmed_at IS NULL OR c.confirmed_at < $ref THEN $ref ELSE c.confirmed_at END)
WITH go
CREATE (ep:Episode) SET ep = $episode
FOREACH (row IN $memories | CREATE (m:Memory:MemoryText) SET m = row)
{_MERGE_ENTITIES}
FOREACH (a IN $aliases |
  MERGE (x:Alias {{key: a.key}})
  SET x.namespace = a.namespace, x.alias = a.alias, x.entity_key = a.entity_key)
WITH go, count(*) AS barrier
{_APPEND_HISTORY}
RETURN x.memory_id AS memory_id"""

# ``go`` is grouped on by every aggregation below: an aggregation without a grouping key makes
# one row out of none, which would let an add whose compare-and-set failed write anyway.
ADD_MEMORIES = f"""
WITH 1 AS go
{_REINFORCE_AND_ADD}"""

# The same, after ending the validity of earlier memories (and their relations) in the same
# statement. Compare-and-set: unless every target is locked active, current and at its expected
# version, no row survives the first WITH and nothing at all is written (the store then raises
# Conflict; ``count(*)`` makes one row out of none, hence the size check after it). Only used
# with a non-empty $retire (UNWIND of an empty list yields no row).
ADD_MEMORIES_RETIRING = f"""
UNWIND $retire AS r
MATCH (m:Memory {{id: r.id}})
{LOCK}
WITH m, r WHERE m.state = 'active' AND m.valid_to IS NULL AND m.version = r.version
WITH collect(m) AS ms, collect(r) AS rs
WITH ms, rs WHERE size(ms) = size($retire)
FOREACH (i IN range(0, size(ms) - 1) | FOREACH (m IN [ms[i]] |
  SET m.valid_to = rs[i].valid_to, m.retired_at = $at, m.superseded_by = rs[i].superseded_by,
      m.retired_by_rule = rs[i].rule, m.version = m.version + 1, m.indexed = false))
WITH ms
UNWIND ms AS m
OPTIONAL MATCH ()-[rel:REL {{memory_id: m.id}}]->()
WITH m, collect(rel) AS rels
FOREACH (x IN rels | SET x.valid_to = m.valid_to)
WITH count(*) AS go WHERE go = size($retire)
{_REINFORCE_AND_ADD}"""

# Nothing happens unless the memory is active at $expected: every later part hangs off the one
# matched row. Returns one row when it applied, none otherwise (the store then reads why).
REPLACE_MEMORY = f"""
MATCH (m:Memory {{id: $id}})
{LOCK}
WITH m WHERE m.state = 'active' AND m.version = $expected
SET m = {_REPLACED_MAP}
SET m += $meta
WITH m
OPTIONAL MATCH ()-[old:REL {{memory_id: m.id}}]->()
WITH m, collect(old) AS olds
FOREACH (x IN olds | DELETE x)
{_MERGE_ENTITIES}
WITH m
{_APPEND_HISTORY}
RETURN x.memory_id AS memory_id"""

# Tombstones the targets that are active (and at their expected version, when one is given),
# records their DELETE history from the stored text, then drops their relations.
DELETE_MEMORIES = f"""
UNWIND $targets AS t
MATCH (m:Memory {{id: t.id}})
{LOCK}
WITH m, t WHERE m.state = 'active' AND (t.version IS NULL OR m.version = t.version)
SET m.state = 'deleted', m.version = m.version + 1, m.indexed = false
WITH m
OPTIONAL MATCH (prev:History {{memory_id: m.id}})
WITH m, coalesce(max(prev.seq), 0) AS base
CREATE (x:History)
SET x.memory_id = m.id, x.event = 'delete', x.old_text = m.text, x.new_text = '', x.at = $at, x.seq = base + 1,
    x.actor = $actor, x.old_triples = m.triples, x.new_triples = '[]', x.rule = $rule, x.episode_id = ''
WITH m
OPTIONAL MATCH (a)-[r:REL {{memory_id: m.id}}]->(b)
WITH m, collect(r) AS rels, collect(a.key) + collect(b.key) AS ends
FOREACH (x IN rels | DELETE x)
RETURN m.id AS id, m.version AS version, ends AS ends"""

# Entities (by key) that no relation touches any more go, with the aliases naming them.
DROP_ORPHAN_ENTITIES = """
UNWIND $keys AS k
MATCH (e:Entity {key: k})
OPTIONAL MATCH (e)-[x:REL]-()
WITH e, count(x) AS degree WHERE degree = 0
OPTIONAL MATCH (a:Alias {entity_key: e.key})
WITH e, collect(a) AS als
FOREACH (x IN als | DELETE x)
DELETE e
RETURN count(*) AS dropped"""

# Why a compare-and-set did not apply.
MEMORY_VERSION = "MATCH (m:Memory {id: $id}) RETURN m.state AS state, m.version AS version"


def add_memories_query(
    episode: Episode,
    memories: Sequence[Memory],
    history: Sequence[HistoryEntry],
    retire: Sequence[Retirement] = (),
    reinforce: Sequence[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> Query:
    entities, relations = graph_rows(memories)
    s = episode.scope
    ns = s.namespace
    alias_rows = [
        {
            "key": lookup_key("alias", ns, norm(a)),
            "namespace": ns,
            "alias": norm(a),
            "entity_key": entity_key(ns, norm(e)),
        }
        for a, e in (aliases or {}).items()
        if norm(a) != norm(e)
    ]
    return Query(
        "add_memories_retiring" if retire else "add_memories",
        ADD_MEMORIES_RETIRING if retire else ADD_MEMORIES,
        {
            **(
                {
                    "retire": [
                        {
                            "id": r.memory_id,
                            "version": r.expected_version,
                            "valid_to": to_micros(r.valid_to),
                            "superseded_by": r.superseded_by,
                            "rule": r.rule,
                        }
                        for r in retire
                    ],
                    "at": to_micros(episode.created_at),  # retired_at: system time
                }
                if retire
                else {}
            ),
            "reinforce": list(dict.fromkeys(reinforce)),
            "ref": to_micros(episode.reference_time),  # confirmed_at: world time
            "aliases": alias_rows,
            "episode": {
                "id": episode.id,
                "user_id": s.user_id,
                "agent_id": s.agent_id,
                "run_id": s.run_id,
                "messages": json.dumps([[m.role, m.content, m.name] for m in episode.messages]),
                "metadata": json.dumps(episode.metadata),
                "reference_time": to_micros(episode.reference_time),
                "created_at": to_micros(episode.created_at),
            },
            "memories": [memory_props(m) for m in memories],
            "entities": entities,
            "relations": relations,
            "history": [history_props(h) for h in history],
        },
    )


def replace_memory_query(m: Memory, history: HistoryEntry, expected_version: int) -> Query:
    entities, relations = graph_rows([m])
    return Query(
        "replace_memory",
        REPLACE_MEMORY,
        {
            "id": m.id,
            "expected": expected_version,
            "text": m.text,
            "hash": m.content_hash,
            "dedup_key": dedup_key(m.scope, m.content_hash),
            "metadata": json.dumps(m.metadata),
            "triples": triples_json(m.triples),
            "updated_at": to_micros(m.updated_at),
            "version": m.version,
            "meta": flatten_metadata(m.metadata),
            **living_props(m),
            "entities": entities,
            "relations": relations,
            "history": [history_props(history)],
        },
    )


def delete_memories_query(
    ids: Sequence[str],
    at: datetime,
    expected_versions: Mapping[str, int] | None = None,
    actor: str = "system",
    rule: str = "api",
) -> Query:
    expected = expected_versions or {}
    targets = [{"id": i, "version": expected.get(i)} for i in dict.fromkeys(ids)]
    params = {"targets": targets, "at": to_micros(at), "actor": actor, "rule": rule}
    return Query("delete_memories", DELETE_MEMORIES, params)


def touch_memories_query(ids: Sequence[str], scope: Scope, at: datetime) -> Query:
    """``last_used_at`` of the active memories among ``ids`` in the scope moves up to ``at``
    (never back; no new version). Returns one row: how many matched."""
    where, params = scope_predicate("m", scope)
    text = (
        f"UNWIND $ids AS mid MATCH (m:Memory {{id: mid}}) WHERE {where} {LOCK} "
        "WITH m WHERE m.state = 'active' "
        "SET m.last_used_at = CASE WHEN m.last_used_at IS NULL OR m.last_used_at < $at THEN $at "
        "ELSE m.last_used_at END "
        "RETURN count(m) AS touched"
    )
    return Query("touch_memories", text, {"ids": list(dict.fromkeys(ids)), "at": to_micros(at), **params})


def drop_orphan_entities_query(keys: Sequence[str]) -> Query:
    return Query("drop_orphan_entities", DROP_ORPHAN_ENTITIES, {"keys": list(dict.fromkeys(keys))})


def memory_version_query(memory_id: str) -> Query:
    return Query("memory_version", MEMORY_VERSION, {"id": memory_id})


def memory_props(m: Memory) -> dict[str, Any]:
    s = m.scope
    return {
        "id": m.id,
        "user_id": s.user_id,
        "agent_id": s.agent_id,
        "run_id": s.run_id,
        "text": m.text,
        "hash": m.content_hash,
        "metadata": json.dumps(m.metadata),
        "triples": triples_json(m.triples),
        "episode_id": m.episode_id,
        "reference_time": to_micros(m.reference_time),
        "created_at": to_micros(m.created_at),
        "updated_at": to_micros(m.updated_at),
        "state": m.state.value,
        "version": m.version,
        "indexed": False,
        "valid_from": to_micros(m.valid_from or m.reference_time),
        "valid_to": None if m.valid_to is None else to_micros(m.valid_to),
        "retired_at": None if m.retired_at is None else to_micros(m.retired_at),
        "superseded_by": m.superseded_by,
        "retired_by_rule": m.retired_by_rule,
        "confirmations": m.confirmations,
        "confirmed_at": to_micros(m.confirmed_at or m.reference_time),
        **living_props(m),
        "speaker": m.speaker,
        "user_key": lookup_key(s.user_id),
        "agent_key": lookup_key(s.agent_id),
        "run_key": lookup_key(s.run_id),
        "dedup_key": dedup_key(s, m.content_hash),
        **flatten_metadata(m.metadata),
    }


def living_props(m: Memory) -> dict[str, Any]:
    """The living-memory properties, as a new memory stores them and a replace rewrites them
    (``last_used_at`` there only moves forward: see _LATER_USE)."""
    return {
        "importance": float(m.importance),
        "expires_at": None if m.expires_at is None else to_micros(m.expires_at),
        "attributes": attributes_json(m.attributes),
        "last_used_at": None if m.last_used_at is None else to_micros(m.last_used_at),
    }


def history_props(h: HistoryEntry) -> dict[str, Any]:
    return {
        "memory_id": h.memory_id,
        "event": h.event.value,
        "old_text": h.old_text,
        "new_text": h.new_text,
        "at": to_micros(h.at),
        "actor": h.actor,
        "rule": h.rule,
        "episode_id": h.episode_id,
        "old_triples": triples_json(h.old_triples),
        "new_triples": triples_json(h.new_triples),
    }


def graph_rows(memories: Sequence[Memory]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Entity rows (one per (namespace, norm), first name seen, type refined like the embedded
    store does triple by triple) and relation rows for the memories' triples."""
    entities: dict[str, dict[str, Any]] = {}
    relations: list[dict[str, Any]] = []
    for m in memories:
        ns, s = m.scope.namespace, m.scope
        for ord_, t in enumerate(m.triples):
            for name, typ in ((t.subject, t.subject_type), (t.object, t.object_type)):
                key = entity_key(ns, norm(name))
                row = entities.get(key)
                if row is None:
                    entities[key] = {"key": key, "namespace": ns, "norm": norm(name), "name": name, "type": typ}
                elif row["type"] in GENERIC_TYPES:
                    row["type"] = typ
            relations.append(
                {
                    "subject": entity_key(ns, norm(t.subject)),
                    "object": entity_key(ns, norm(t.object)),
                    "props": {
                        "memory_id": m.id,
                        "ord": ord_,
                        "predicate": t.predicate,
                        "user_id": s.user_id,
                        "agent_id": s.agent_id,
                        "run_id": s.run_id,
                        "created_at": to_micros(m.created_at),
                        "valid_from": to_micros(m.valid_from or m.reference_time),
                        "valid_to": None if m.valid_to is None else to_micros(m.valid_to),
                    },
                }
            )
    return list(entities.values()), relations


class CypherMemoryWrites(CypherStoreBase):
    """MemoryWrites over the runner: one statement each."""

    async def add_memories(
        self,
        episode: Episode,
        memories: Sequence[Memory],
        history: Sequence[HistoryEntry],
        *,
        retire: Sequence[Retirement] = (),
        reinforce: Sequence[str] = (),
        aliases: Mapping[str, str] = {},
    ) -> None:
        rows = await self._runner.write(add_memories_query(episode, memories, history, retire, reinforce, aliases))
        if retire and not rows:
            raise Conflict("a memory this add retires changed meanwhile; nothing was written, retry the add")

    async def replace_memory(self, memory: Memory, history: HistoryEntry, *, expected_version: int) -> None:
        if await self._runner.write(replace_memory_query(memory, history, expected_version)):
            ns = memory.scope.namespace
            ends = {entity_key(ns, norm(x)) for t in history.old_triples for x in (t.subject, t.object)}
            if ends:
                await self._runner.write(drop_orphan_entities_query(sorted(ends)))
            return
        rows = await self._runner.read(memory_version_query(memory.id))
        state, version = (rows[0]["state"], rows[0]["version"]) if rows else (None, None)
        if state != MemoryState.ACTIVE.value:
            raise memory_gone(memory.id)
        raise version_conflict(memory.id, version, expected_version)

    async def delete_memories(
        self,
        ids: Sequence[str],
        *,
        at: datetime,
        expected_versions: Mapping[str, int] | None = None,
        actor: str = "system",
        rule: str = "api",
    ) -> dict[str, int]:
        """One statement per chunk tombstones and drops relations; a second one removes the
        entities left without relations (idempotent: a crash in between leaves orphan entities,
        which graph_drift reports and the next delete touching them removes)."""
        done: dict[str, int] = {}
        for chunk in chunks(ids):
            rows = await self._runner.write(delete_memories_query(chunk, at, expected_versions, actor, rule))
            done.update((r["id"], r["version"]) for r in rows)
            ends = sorted({k for r in rows for k in r["ends"] if k is not None})
            if ends:
                await self._runner.write(drop_orphan_entities_query(ends))
        return done

    async def touch_memories(self, ids: Sequence[str], scope: Scope, at: datetime) -> int:
        if not ids:
            return 0
        rows = await self._runner.write(touch_memories_query(ids, scope, at))
        return int(rows[0]["touched"]) if rows else 0
