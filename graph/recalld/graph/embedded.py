"""Embedded GraphStore: SQLite for durability, networkx for traversal.

SQLite (WAL, synchronous=FULL) is the system of record in ``<data_dir>/graph.db``.
The relations of each entity namespace are mirrored in a networkx
MultiDiGraph, built lazily from SQLite on first use and updated after each
committed write, so traversal never touches disk. All SQLite work runs on one
dedicated thread; callers stay on the event loop.

Lexical search: ``memories_fts``, an FTS5 index over ``memories.text`` and the memory's owner (a
token made from its user id), contentless, keyed by the memories table's rowid; tokenizer
``porter unicode61 remove_diacritics 2``: "painting" finds "painted", "Zoe" finds "Zoë". A search
with a user matches ``owner : "<token>" AND text : (...)``, so the index intersects the user's
postings with the words' instead of reading every user's matches (the owner column weighs 0 in
bm25). Triggers on ``memories`` keep it in step inside the transaction of every write (insert,
text change, delete), so no write path can forget it; tombstones and retired memories stay
indexed and are filtered out by the query, like every other read. (Rowids of a table without an
INTEGER PRIMARY KEY may change on VACUUM, the SQLite manual warns; SQLite 3.40 keeps them; were
a VACUUM to renumber, ``DELETE FROM memories_fts`` and the insert of _V5's last statement
rebuild the index.)
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path as FsPath
from typing import Any, TypeVar

import networkx as nx

from recalld.graph.rows import (
    attribute_name_marker,
    attributes_json,
    decode_cache_clear,
    erasure_counts_from_json,
    erasure_counts_json,
    history_from_fields,
    memory_from_row,
    triples_from_json,
    triples_json,
)
from recalld.graph.sqlite_filters import fts5_match, sql_metadata_filter
from recalld.graph.walking import walk
from recalld.kernel.domain import (
    CURRENT,
    ApiKey,
    Edge,
    EntityNode,
    Episode,
    Erasure,
    ErasureCounts,
    EventKind,
    Grant,
    HistoryEntry,
    Memory,
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
from recalld.kernel.errors import Conflict, ResourceExhausted, Unavailable, memory_gone, version_conflict
from recalld.kernel.ports import Cursor, GraphDrift, PendingIndex, Relation, Retirement
from recalld.kernel.times import from_micros, to_micros
from recalld.kernel.walks import Walks

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes(
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, agent_id TEXT NOT NULL, run_id TEXT NOT NULL,
  messages TEXT NOT NULL, metadata TEXT NOT NULL, reference_time INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS memories(
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, agent_id TEXT NOT NULL, run_id TEXT NOT NULL,
  text TEXT NOT NULL, hash TEXT NOT NULL, metadata TEXT NOT NULL, triples TEXT NOT NULL,
  episode_id TEXT NOT NULL, reference_time INTEGER NOT NULL, created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL, state TEXT NOT NULL, version INTEGER NOT NULL, indexed INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS mem_user ON memories(user_id, created_at);
CREATE INDEX IF NOT EXISTS mem_agent ON memories(agent_id, created_at);
CREATE INDEX IF NOT EXISTS mem_run ON memories(run_id, created_at);
CREATE INDEX IF NOT EXISTS mem_hash ON memories(hash);
CREATE INDEX IF NOT EXISTS mem_pending ON memories(indexed) WHERE indexed = 0;
CREATE TABLE IF NOT EXISTS entities(
  namespace TEXT NOT NULL, norm TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
  PRIMARY KEY(namespace, norm));
CREATE TABLE IF NOT EXISTS relations(
  id INTEGER PRIMARY KEY, memory_id TEXT NOT NULL, namespace TEXT NOT NULL,
  user_id TEXT NOT NULL, agent_id TEXT NOT NULL, run_id TEXT NOT NULL,
  subject TEXT NOT NULL, predicate TEXT NOT NULL, object TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS rel_memory ON relations(memory_id);
CREATE INDEX IF NOT EXISTS rel_namespace ON relations(namespace);
CREATE TABLE IF NOT EXISTS history(
  id INTEGER PRIMARY KEY, memory_id TEXT NOT NULL, event TEXT NOT NULL,
  old_text TEXT NOT NULL, new_text TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS hist_memory ON history(memory_id);
"""

_MEMORY_COLUMNS = (
    "id, user_id, agent_id, run_id, text, hash, metadata, triples, episode_id, "
    "reference_time, created_at, updated_at, state, version, "
    "valid_from, valid_to, retired_at, superseded_by, retired_by_rule, confirmations, confirmed_at, "
    "importance, last_used_at, expires_at, attributes, speaker"
)
_OPERATION_COLUMNS = (
    "id, user_id, agent_id, run_id, request, status, created_at, updated_at, attempts, error, result, owner, "
    "lease_until"
)
_GRANT_COLUMNS = "id, user_id, owner_agent, grantee_agent, granted_at, granted_by, revoked_at, revoked_by"
_HISTORY_COLUMNS = "memory_id, event, old_text, new_text, at, actor, rule, episode_id, old_triples, new_triples"
_SCOPE_COLUMNS = ("user_id", "agent_id", "run_id")


_ts = to_micros
_dt = from_micros

# PRAGMA user_version: 0 = times stored as REAL seconds (recalld 0.1), 1 = integer microseconds,
# 2 = validity, reinforcement, richer history, aliases (recalld 0.3), 3 = importance, use, expiry,
# attributes, the operation log and grants (recalld 0.4), 4 = the control plane and erasure records,
# 5 = the full-text index over memory text, 6 = the speaker of each memory. Each step migrates in
# place at open, in one transaction.
_SCHEMA_VERSION = 6
_V2 = """
ALTER TABLE memories ADD COLUMN valid_from INTEGER;
ALTER TABLE memories ADD COLUMN valid_to INTEGER;
ALTER TABLE memories ADD COLUMN retired_at INTEGER;
ALTER TABLE memories ADD COLUMN superseded_by TEXT NOT NULL DEFAULT '';
ALTER TABLE memories ADD COLUMN retired_by_rule TEXT NOT NULL DEFAULT '';
ALTER TABLE memories ADD COLUMN confirmations INTEGER NOT NULL DEFAULT 1;
ALTER TABLE memories ADD COLUMN confirmed_at INTEGER;
UPDATE memories SET valid_from = reference_time, confirmed_at = created_at;
ALTER TABLE relations ADD COLUMN valid_from INTEGER;
ALTER TABLE relations ADD COLUMN valid_to INTEGER;
UPDATE relations SET valid_from = (SELECT m.reference_time FROM memories m WHERE m.id = relations.memory_id);
CREATE INDEX IF NOT EXISTS rel_subject ON relations(namespace, subject);
CREATE INDEX IF NOT EXISTS rel_object ON relations(namespace, object);
ALTER TABLE history ADD COLUMN actor TEXT NOT NULL DEFAULT 'system';
ALTER TABLE history ADD COLUMN rule TEXT NOT NULL DEFAULT '';
ALTER TABLE history ADD COLUMN episode_id TEXT NOT NULL DEFAULT '';
ALTER TABLE history ADD COLUMN old_triples TEXT NOT NULL DEFAULT '[]';
ALTER TABLE history ADD COLUMN new_triples TEXT NOT NULL DEFAULT '[]';
UPDATE history SET episode_id = coalesce((SELECT m.episode_id FROM memories m WHERE m.id = history.memory_id), '')
  WHERE event = 'add';
CREATE TABLE IF NOT EXISTS aliases(
  namespace TEXT NOT NULL, alias TEXT NOT NULL, entity TEXT NOT NULL, PRIMARY KEY(namespace, alias));
"""
_V3 = """
ALTER TABLE memories ADD COLUMN importance REAL NOT NULL DEFAULT 0.5;
ALTER TABLE memories ADD COLUMN last_used_at INTEGER;
ALTER TABLE memories ADD COLUMN expires_at INTEGER;
ALTER TABLE memories ADD COLUMN attributes TEXT NOT NULL DEFAULT '[]';
CREATE INDEX IF NOT EXISTS mem_expiry ON memories(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS mem_episode ON memories(episode_id);
CREATE TABLE IF NOT EXISTS operations(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL, agent_id TEXT NOT NULL, run_id TEXT NOT NULL, request TEXT NOT NULL,
  status TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '', result TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL DEFAULT '', lease_until INTEGER);
CREATE INDEX IF NOT EXISTS op_unfinished ON operations(status) WHERE status IN ('pending', 'running');
CREATE TABLE IF NOT EXISTS grants(
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, owner_agent TEXT NOT NULL, grantee_agent TEXT NOT NULL,
  granted_at INTEGER NOT NULL, granted_by TEXT NOT NULL, revoked_at INTEGER, revoked_by TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS grant_user ON grants(user_id, grantee_agent);
"""
_V4 = """
CREATE TABLE IF NOT EXISTS api_keys(
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL, role INTEGER NOT NULL, secret_hash TEXT NOT NULL,
  users TEXT NOT NULL, agents TEXT NOT NULL, created_at INTEGER NOT NULL, created_by TEXT NOT NULL,
  revoked_at INTEGER, revoked_by TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS key_tenant ON api_keys(tenant, created_at);
CREATE TABLE IF NOT EXISTS tenants(name TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS erasures(
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL, agent_id TEXT NOT NULL, run_id TEXT NOT NULL,
  requested_at INTEGER NOT NULL, requested_by TEXT NOT NULL, counts TEXT NOT NULL, completed_at INTEGER);
CREATE INDEX IF NOT EXISTS erasure_open ON erasures(requested_at) WHERE completed_at IS NULL;
CREATE INDEX IF NOT EXISTS episode_user ON episodes(user_id);
CREATE INDEX IF NOT EXISTS op_user ON operations(user_id)
"""
# The lexical index: contentless FTS5 over memories.text and the owner token ("u" + the user id's
# UTF-8 as hex: one alphanumeric token whatever the id), kept in step by triggers (a contentless
# table's delete takes the old values, which the triggers have), then filled from the rows that exist.
_V5 = """
CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5(
  text, owner, content='', tokenize='porter unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS memories_fts_insert AFTER INSERT ON memories BEGIN
  INSERT INTO memories_fts(rowid, text, owner) VALUES (new.rowid, new.text, 'u' || lower(hex(new.user_id)));
END;
CREATE TRIGGER IF NOT EXISTS memories_fts_delete AFTER DELETE ON memories BEGIN
  INSERT INTO memories_fts(memories_fts, rowid, text, owner)
    VALUES ('delete', old.rowid, old.text, 'u' || lower(hex(old.user_id)));
END;
CREATE TRIGGER IF NOT EXISTS memories_fts_update AFTER UPDATE OF text, user_id ON memories BEGIN
  INSERT INTO memories_fts(memories_fts, rowid, text, owner)
    VALUES ('delete', old.rowid, old.text, 'u' || lower(hex(old.user_id)));
  INSERT INTO memories_fts(rowid, text, owner) VALUES (new.rowid, new.text, 'u' || lower(hex(new.user_id)));
END;
INSERT INTO memories_fts(rowid, text, owner) SELECT rowid, text, 'u' || lower(hex(user_id)) FROM memories
"""
# The speaker: a memory recorded before it was kept takes its episode's, when the episode tells (the
# messages facts are made of, user messages and named ones, all said by one speaker: the name, else
# the scope's user); otherwise it stays unknown ('').
_EPISODE_SPEAKER = (
    "CASE WHEN json_extract(j.value, '$[2]') != '' THEN json_extract(j.value, '$[2]') "
    "ELSE coalesce(nullif(memories.user_id, ''), nullif(memories.agent_id, ''), memories.run_id) END"
)
_V6 = f"""
ALTER TABLE memories ADD COLUMN speaker TEXT NOT NULL DEFAULT '';
UPDATE memories SET speaker = coalesce((
  SELECT CASE WHEN count(DISTINCT {_EPISODE_SPEAKER}) = 1 THEN max({_EPISODE_SPEAKER}) END
  FROM episodes e, json_each(e.messages) j
  WHERE e.id = memories.episode_id AND (json_extract(j.value, '$[0]') = 'user' OR json_extract(j.value, '$[2]') != '')
), '')
"""
_KEY_COLUMNS = "id, tenant, name, role, secret_hash, users, agents, created_at, created_by, revoked_at, revoked_by"
_ERASURE_COLUMNS = "id, user_id, agent_id, run_id, requested_at, requested_by, counts, completed_at"
_TIME_COLUMNS = {
    "episodes": ("reference_time", "created_at"),
    "memories": ("reference_time", "created_at", "updated_at"),
    "relations": ("created_at",),
    "history": ("at",),
}


def _scope_sql(scope: Scope, table: str = "", *, keyed: bool = False) -> tuple[str, list[Any]]:
    """The scope as SQL equalities. ``keyed``: the statement looks rows up by a key of their own
    (ids, hashes), so the scope only filters what the key found. Its columns are then written
    ``+col`` (SQLite's documented way to keep a term from choosing the index): with no statistics
    the planner takes an equality on mem_user, mem_agent or mem_run over a lookup by 50 ids, and
    ``run_id = ''`` matches nearly every row (5 ms per lookup against 0.1 at 11k memories)."""
    prefix = ("+" if keyed else "") + (f"{table}." if table else "")
    items = scope.filter_items()
    if not items:
        raise ValueError("empty scope")
    return " AND ".join(f"{prefix}{k} = ?" for k, _ in items), [v for _, v in items]


_triples_json = triples_json


def _row_to_memory(row: sqlite3.Row) -> Memory:
    return memory_from_row(tuple(row.keys()), row)


class EmbeddedGraphStore:
    """GraphStore over SQLite + networkx in a data directory."""

    def __init__(self, *, path: FsPath) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-sqlite")
        self._db: sqlite3.Connection | None = None
        self._graphs: dict[str, nx.MultiDiGraph] = {}
        # per namespace: node -> its incident edges, as walks read them (_incident_all)
        self._adjacency: dict[str, dict[str, list[tuple[Edge, str, dict[str, Any]]]]] = {}
        self._graph_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------
    async def open(self) -> None:
        await self._run(self._open_sync)

    def _open_sync(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        fresh = db.execute("SELECT count(*) FROM sqlite_master WHERE name='memories'").fetchone()[0] == 0
        db.executescript(_SCHEMA)
        if fresh:
            db.execute("PRAGMA user_version=1")
        if db.execute("PRAGMA user_version").fetchone()[0] < 1:
            _migrate_to_micros(db)
        if db.execute("PRAGMA user_version").fetchone()[0] < 2:
            _migrate(db, _V2, 2)
        if db.execute("PRAGMA user_version").fetchone()[0] < 3:
            _migrate(db, _V3, 3)
        if db.execute("PRAGMA user_version").fetchone()[0] < 4:
            _migrate(db, _V4, 4)
        if db.execute("PRAGMA user_version").fetchone()[0] < 5:
            _migrate(db, _V5, 5)
        if db.execute("PRAGMA user_version").fetchone()[0] < 6:
            _migrate(db, _V6, _SCHEMA_VERSION)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def ping(self) -> None:
        # In-process: the store answers while the database is open. No query, so a queue of writes
        # on the store's one thread does not read as an outage.
        if self._db is None:
            raise Unavailable("graph store is not open")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("graph store is not open")
        return self._db

    def _tx(self) -> _Transaction:
        return _Transaction(self._conn)

    # -- writes ------------------------------------------------------------------
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
        await self._run(self._add_sync, episode, memories, history, retire, reinforce, aliases)

    def _add_sync(
        self,
        episode: Episode,
        memories: Sequence[Memory],
        history: Sequence[HistoryEntry],
        retire: Sequence[Retirement],
        reinforce: Sequence[str],
        aliases: Mapping[str, str],
    ) -> None:
        db = self._conn
        at = _ts(episode.created_at)
        with self._tx():
            # Compare-and-set first: a retirement of a memory that changed meanwhile aborts it all.
            for r in retire:
                row = db.execute("SELECT state, version, valid_to FROM memories WHERE id=?", (r.memory_id,)).fetchone()
                _check_current(r.memory_id, row, r.expected_version)
                if row["valid_to"] is not None:
                    raise Conflict(f"memory {r.memory_id} was retired meanwhile; read it again and retry")
                db.execute(
                    "UPDATE memories SET valid_to=?, retired_at=?, superseded_by=?, retired_by_rule=?, "
                    "version=version+1, indexed=0 WHERE id=?",
                    (_ts(r.valid_to), at, r.superseded_by, r.rule, r.memory_id),
                )
                db.execute(
                    "UPDATE relations SET valid_to=? WHERE memory_id=? AND valid_to IS NULL",
                    (_ts(r.valid_to), r.memory_id),
                )
            for chunk in _chunks(list(dict.fromkeys(reinforce)), 500):
                marks = ",".join("?" * len(chunk))
                db.execute(
                    "UPDATE memories SET confirmations=confirmations+1, "
                    f"confirmed_at=max(coalesce(confirmed_at, 0), ?) WHERE id IN ({marks}) AND state='active'",
                    [_ts(episode.reference_time), *chunk],
                )
            s = episode.scope
            db.execute(
                "INSERT INTO episodes VALUES (?,?,?,?,?,?,?,?)",
                (
                    episode.id,
                    s.user_id,
                    s.agent_id,
                    s.run_id,
                    json.dumps([[m.role, m.content, m.name] for m in episode.messages]),
                    json.dumps(episode.metadata),
                    _ts(episode.reference_time),
                    _ts(episode.created_at),
                ),
            )
            for m in memories:
                self._insert_memory(m)
                self._insert_relations(m)
            ns = episode.scope.namespace
            db.executemany(
                "INSERT INTO aliases VALUES (?,?,?) ON CONFLICT(namespace, alias) DO UPDATE SET entity=excluded.entity",
                [(ns, norm(a), norm(e)) for a, e in aliases.items() if norm(a) != norm(e)],
            )
            self._insert_history(history)
        for m in memories:
            self._mirror_add(m)
        if retire:
            self._mirror_refresh([r.memory_id for r in retire], episode.scope.namespace)

    def _insert_memory(self, m: Memory) -> None:
        s = m.scope
        self._conn.execute(
            f"INSERT INTO memories ({_MEMORY_COLUMNS}, indexed) VALUES ({','.join('?' * 26)},0)",
            (
                m.id,
                s.user_id,
                s.agent_id,
                s.run_id,
                m.text,
                m.content_hash,
                json.dumps(m.metadata),
                _triples_json(m.triples),
                m.episode_id,
                _ts(m.reference_time),
                _ts(m.created_at),
                _ts(m.updated_at),
                m.state.value,
                m.version,
                _ts(m.valid_from or m.reference_time),
                _opt_ts(m.valid_to),
                _opt_ts(m.retired_at),
                m.superseded_by,
                m.retired_by_rule,
                m.confirmations,
                _ts(m.confirmed_at or m.reference_time),
                m.importance,
                _opt_ts(m.last_used_at),
                _opt_ts(m.expires_at),
                attributes_json(m.attributes),
                m.speaker,
            ),
        )

    def _insert_relations(self, m: Memory) -> None:
        db = self._conn
        ns, s = m.scope.namespace, m.scope
        for t in m.triples:
            for name, typ in ((t.subject, t.subject_type), (t.object, t.object_type)):
                db.execute(
                    "INSERT INTO entities VALUES (?,?,?,?) ON CONFLICT(namespace, norm) DO UPDATE SET "
                    "type = CASE WHEN entities.type IN ('entity','concept') THEN excluded.type ELSE entities.type END",
                    (ns, norm(name), name, typ),
                )
            db.execute(
                "INSERT INTO relations (memory_id, namespace, user_id, agent_id, run_id, subject, predicate, object,"
                " created_at, valid_from, valid_to) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    m.id,
                    ns,
                    s.user_id,
                    s.agent_id,
                    s.run_id,
                    norm(t.subject),
                    t.predicate,
                    norm(t.object),
                    _ts(m.created_at),
                    _ts(m.valid_from or m.reference_time),
                    _opt_ts(m.valid_to),
                ),
            )

    def _insert_history(self, history: Sequence[HistoryEntry]) -> None:
        self._conn.executemany(
            f"INSERT INTO history ({_HISTORY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    h.memory_id,
                    h.event.value,
                    h.old_text,
                    h.new_text,
                    _ts(h.at),
                    h.actor,
                    h.rule,
                    h.episode_id,
                    _triples_json(h.old_triples),
                    _triples_json(h.new_triples),
                )
                for h in history
            ],
        )

    async def replace_memory(self, memory: Memory, history: HistoryEntry, *, expected_version: int) -> None:
        await self._run(self._replace_sync, memory, history, expected_version)

    def _replace_sync(self, m: Memory, history: HistoryEntry, expected: int) -> None:
        db = self._conn
        with self._tx():  # BEGIN IMMEDIATE: the check and the write see no other writer in between
            row = db.execute("SELECT state, version FROM memories WHERE id=?", (m.id,)).fetchone()
            _check_current(m.id, row, expected)
            db.execute(
                "UPDATE memories SET text=?, hash=?, metadata=?, triples=?, updated_at=?, version=?, indexed=0, "
                "importance=?, expires_at=?, attributes=? WHERE id=?",
                (
                    m.text,
                    m.content_hash,
                    json.dumps(m.metadata),
                    _triples_json(m.triples),
                    _ts(m.updated_at),
                    m.version,
                    m.importance,
                    _opt_ts(m.expires_at),
                    attributes_json(m.attributes),
                    m.id,
                ),
            )
            touched = self._relation_entities([m.id])
            db.execute("DELETE FROM relations WHERE memory_id=?", (m.id,))
            self._insert_relations(m)
            self._insert_history([history])
            gone = self._drop_orphan_entities(touched)
        self._mirror_remove([m.id], m.scope.namespace, gone)
        self._mirror_add(m)

    async def delete_memories(
        self,
        ids: Sequence[str],
        *,
        at: datetime,
        expected_versions: Mapping[str, int] | None = None,
        actor: str = "system",
        rule: str = "api",
    ) -> dict[str, int]:
        return await self._run(self._delete_sync, list(dict.fromkeys(ids)), at, expected_versions, actor, rule)

    def _delete_sync(
        self, ids: list[str], at: datetime, expected: Mapping[str, int] | None, actor: str, rule: str
    ) -> dict[str, int]:
        db = self._conn
        namespaces: set[str] = set()
        touched: set[tuple[str, str]] = set()
        done: dict[str, int] = {}
        with self._tx():
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT id, version, text, user_id, agent_id, run_id, triples FROM memories "
                    f"WHERE id IN ({marks}) AND state='active'",
                    chunk,
                ).fetchall()
                if expected is not None:
                    rows = [r for r in rows if r[0] not in expected or expected[r[0]] == r[1]]
                if not rows:
                    continue
                doomed = [r[0] for r in rows]
                marks = ",".join("?" * len(doomed))
                namespaces.update(Scope(r[3], r[4], r[5]).namespace for r in rows)
                db.execute(
                    f"UPDATE memories SET state='deleted', version=version+1, indexed=0 WHERE id IN ({marks})", doomed
                )
                touched |= self._relation_entities(doomed)
                db.execute(f"DELETE FROM relations WHERE memory_id IN ({marks})", doomed)
                self._insert_history(
                    [
                        HistoryEntry(
                            r[0], EventKind.DELETE, r[2], "", at, actor, rule, old_triples=triples_from_json(r[6])
                        )
                        for r in rows
                    ]
                )
                done.update((r[0], r[1] + 1) for r in rows)
            gone = self._drop_orphan_entities(touched)
        for ns in namespaces:
            self._mirror_remove(list(done), ns, gone)
        return done

    def _relation_entities(self, memory_ids: Sequence[str]) -> set[tuple[str, str]]:
        """(namespace, entity) pairs the relations of these memories touch."""
        out: set[tuple[str, str]] = set()
        for chunk in _chunks(memory_ids, 500):
            marks = ",".join("?" * len(chunk))
            for r in self._conn.execute(
                f"SELECT namespace, subject, object FROM relations WHERE memory_id IN ({marks})", chunk
            ):
                out.update(((r[0], r[1]), (r[0], r[2])))
        return out

    def _drop_orphan_entities(self, candidates: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Delete the entities among ``candidates`` no relation touches any more (and aliases
        naming them). Returns the deleted ones."""
        db = self._conn
        gone: set[tuple[str, str]] = set()
        for ns, name in candidates:
            if db.execute(
                "SELECT 1 FROM relations WHERE namespace=? AND (subject=? OR object=?) LIMIT 1", (ns, name, name)
            ).fetchone():
                continue
            db.execute("DELETE FROM entities WHERE namespace=? AND norm=?", (ns, name))
            db.execute("DELETE FROM aliases WHERE namespace=? AND entity=?", (ns, name))
            gone.add((ns, name))
        return gone

    # -- reads ---------------------------------------------------------------------
    async def get_memories(
        self,
        ids: Sequence[str],
        scope: Scope,
        filters: Sequence[MetadataFilter] = (),
        time_range: TimeRange | None = None,
        validity: Validity | None = None,
    ) -> dict[str, Memory]:
        return await self._run(self._get_sync, list(ids), scope, filters, time_range, validity)

    def _get_sync(
        self,
        ids: list[str],
        scope: Scope,
        filters: Sequence[MetadataFilter],
        time_range: TimeRange | None,
        validity: Validity | None,
    ) -> dict[str, Memory]:
        where, params = _scope_sql(scope, keyed=True)
        fsql, fparams = sql_metadata_filter(filters)
        tsql, tparams = _time_sql(time_range)
        vsql, vparams = _validity_sql(validity)
        tsql, tparams = tsql + vsql, tparams + vparams
        out: dict[str, Memory] = {}
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE id IN ({marks}) AND state='active' AND {where}"
                f"{fsql}{tsql}",
                [*chunk, *params, *fparams, *tparams],
            )
            out.update((r["id"], _row_to_memory(r)) for r in rows)
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
        match = fts5_match(terms)
        if not match or limit <= 0:
            return []
        match = f"text : ({match})"
        if scope.user_id:  # the user's postings only (the scope predicate below still applies)
            match = f'owner : "{owner_token(scope.user_id)}" AND {match}'

        return await self._run(self._lexical_sync, match, scope, limit, filters, time_range, validity)

    def _lexical_sync(
        self,
        match: str,
        scope: Scope,
        limit: int,
        filters: Sequence[MetadataFilter],
        time_range: TimeRange | None,
        validity: Validity | None,
    ) -> list[tuple[str, float]]:
        # get_memories' predicates on the matched rows. CROSS JOIN keeps the full-text match the
        # outer loop: the work follows the matches, never the scope's (or the table's) size.
        # bm25() is lower-is-better and negative for every match: negated, it is > 0, higher better.
        where, params = _scope_sql(scope, "m")
        fsql, fparams = sql_metadata_filter(filters, "m.metadata")
        tsql, tparams = _time_sql(time_range, "m")
        vsql, vparams = _validity_sql(validity, "m")
        rows = self._conn.execute(
            "SELECT m.id AS id, -bm25(memories_fts, 1.0, 0.0) AS score FROM memories_fts "
            "CROSS JOIN memories m ON m.rowid = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? AND m.state='active' AND {where}{fsql}{tsql}{vsql} "
            "ORDER BY score DESC, m.id LIMIT ?",
            [match, *params, *fparams, *tparams, *vparams, limit],
        )
        return [(r[0], float(r[1])) for r in rows]

    async def get_all(self, ids: Sequence[str]) -> list[Memory]:
        return await self._run(self._get_all_sync, list(ids))

    def _get_all_sync(self, ids: list[str]) -> list[Memory]:
        out: list[Memory] = []
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE id IN ({marks}) AND state='active'", chunk
            )
            out.extend(_row_to_memory(r) for r in rows)
        return out

    async def get_any(self, memory_id: str, scope: Scope) -> Memory | None:
        where, params = _scope_sql(scope, keyed=True)
        row = await self._run(
            lambda: self._conn.execute(
                f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE id=? AND {where}", [memory_id, *params]
            ).fetchone()
        )
        return None if row is None else _row_to_memory(row)

    async def list_memories(
        self,
        scope: Scope,
        filters: Sequence[MetadataFilter],
        limit: int,
        after: Cursor | None,
        *,
        include_retired: bool = True,
    ) -> list[Memory]:
        return await self._run(self._list_sync, scope, filters, limit, after, include_retired)

    def _list_sync(
        self, scope: Scope, filters: Sequence[MetadataFilter], limit: int, after: Cursor | None, include_retired: bool
    ) -> list[Memory]:
        where, params = _scope_sql(scope)
        fsql, fparams = sql_metadata_filter(filters)
        if not include_retired:
            fsql += " AND valid_to IS NULL"
        csql, cparams = "", []
        if after is not None:
            csql = " AND (created_at < ? OR (created_at = ? AND id < ?))"
            ts = _ts(after.created_at)
            cparams = [ts, ts, after.memory_id]
        rows = self._conn.execute(
            f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE state='active' AND {where}{fsql}{csql} "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            [*params, *fparams, *cparams, limit],
        )
        return [_row_to_memory(r) for r in rows]

    async def find_scope_ids(self, scope: Scope) -> list[str]:
        where, params = _scope_sql(scope)
        rows = await self._run(
            lambda: self._conn.execute(f"SELECT id FROM memories WHERE state='active' AND {where}", params).fetchall()
        )
        return [r[0] for r in rows]

    async def find_by_hash(self, scope: Scope, hashes: Sequence[str]) -> dict[str, str]:
        return await self._run(self._by_hash_sync, scope, list(hashes))

    def _by_hash_sync(self, scope: Scope, hashes: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        s = scope
        for chunk in _chunks(hashes, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT hash, id FROM memories INDEXED BY mem_hash WHERE hash IN ({marks}) AND state='active' "
                "AND valid_to IS NULL AND user_id=? AND agent_id=? AND run_id=?",
                [*chunk, s.user_id, s.agent_id, s.run_id],
            )
            out.update((r[0], r[1]) for r in rows)
        return out

    async def history(self, memory_id: str, scope: Scope) -> list[HistoryEntry] | None:
        return await self._run(self._history_sync, memory_id, scope)

    async def touch_memories(self, ids: Sequence[str], scope: Scope, at: datetime) -> int:
        return await self._run(self._touch_sync, list(dict.fromkeys(ids)), scope, at)

    def _touch_sync(self, ids: list[str], scope: Scope, at: datetime) -> int:
        where, params = _scope_sql(scope, keyed=True)
        n = 0
        with self._tx():
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                n += self._conn.execute(
                    f"UPDATE memories SET last_used_at=max(coalesce(last_used_at, 0), ?) "
                    f"WHERE id IN ({marks}) AND state='active' AND {where}",
                    [_ts(at), *chunk, *params],
                ).rowcount
        return n

    async def expired_memories(self, now: datetime, limit: int) -> list[str]:
        rows = await self._run(
            lambda: self._conn.execute(
                "SELECT id FROM memories WHERE expires_at IS NOT NULL AND expires_at <= ? AND state='active' "
                "ORDER BY expires_at, id LIMIT ?",
                (_ts(now), limit),
            ).fetchall()
        )
        return [r[0] for r in rows]

    async def attributed_memories(
        self, scope: Scope, validity: Validity | None = CURRENT, names: Sequence[str] = ()
    ) -> list[Memory]:
        where, params = _scope_sql(scope)
        vsql, vparams = _validity_sql(validity)
        if names:
            vsql += " AND (" + " OR ".join("instr(attributes, ?) > 0" for _ in names) + ")"
            vparams += [attribute_name_marker(n) for n in names]
        rows = await self._run(
            lambda: self._conn.execute(
                f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE state='active' AND attributes != '[]' AND {where}{vsql} "
                "ORDER BY reference_time, id",
                [*params, *vparams],
            ).fetchall()
        )
        return [_row_to_memory(r) for r in rows]

    async def episode_exists(self, episode_id: str) -> bool:
        row = await self._run(lambda: self._conn.execute("SELECT 1 FROM episodes WHERE id=?", (episode_id,)).fetchone())
        return row is not None

    # -- the operation log -------------------------------------------------------------
    async def enqueue_operation(self, op: Operation, limit: int) -> None:
        await self._run(self._enqueue_sync, op, limit)

    def _enqueue_sync(self, op: Operation, limit: int) -> None:
        db = self._conn
        with self._tx():
            waiting = db.execute("SELECT count(*) FROM operations WHERE status IN ('pending', 'running')").fetchone()[0]
            if waiting >= limit:
                raise ResourceExhausted(
                    f"{waiting} asynchronous Adds are waiting; the backlog limit is {limit}; retry later"
                )
            s = op.scope
            db.execute(
                f"INSERT INTO operations ({_OPERATION_COLUMNS}) VALUES ({','.join('?' * 13)})",
                (op.id, s.user_id, s.agent_id, s.run_id, op.request, op.status.value, _ts(op.created_at),
                 _ts(op.updated_at), op.attempts, op.error, op.result, op.owner, _opt_ts(op.lease_until)),
            )  # fmt: skip

    async def get_operation(self, operation_id: str) -> Operation | None:
        row = await self._run(
            lambda: self._conn.execute(
                f"SELECT {_OPERATION_COLUMNS} FROM operations WHERE id=?", (operation_id,)
            ).fetchone()
        )
        return None if row is None else _row_to_operation(row)

    async def unfinished_operations(self, limit: int) -> list[Operation]:
        rows = await self._run(
            lambda: self._conn.execute(
                f"SELECT {_OPERATION_COLUMNS} FROM operations WHERE status IN ('pending', 'running') "
                "ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        )
        return [_row_to_operation(r) for r in rows]

    async def count_unfinished_operations(self) -> int:
        row = await self._run(
            lambda: self._conn.execute(
                "SELECT count(*) FROM operations WHERE status IN ('pending', 'running')"
            ).fetchone()
        )
        return int(row[0])

    async def claim_operation(self, operation_id: str, owner: str, now: datetime, lease_until: datetime) -> bool:
        def claim() -> bool:
            with self._tx():
                return (
                    self._conn.execute(
                        "UPDATE operations SET status='running', owner=?, lease_until=?, attempts=attempts+1, "
                        "updated_at=? WHERE id=? AND (status='pending' OR (status='running' AND "
                        "(owner=? OR lease_until IS NULL OR lease_until < ?)))",
                        (owner, _ts(lease_until), _ts(now), operation_id, owner, _ts(now)),
                    ).rowcount
                    == 1
                )

        return await self._run(claim)

    async def finish_operation(
        self, operation_id: str, owner: str, status: OperationStatus, *, result: str, error: str, at: datetime
    ) -> bool:
        def finish() -> bool:
            keep_owner = status is not OperationStatus.PENDING
            with self._tx():
                return (
                    self._conn.execute(
                        "UPDATE operations SET status=?, result=?, error=?, updated_at=?, "
                        "owner=CASE WHEN ? THEN owner ELSE '' END, "
                        "lease_until=CASE WHEN ? THEN lease_until ELSE NULL END "
                        "WHERE id=? AND owner=? AND status='running'",
                        (status.value, result, error, _ts(at), keep_owner, keep_owner, operation_id, owner),
                    ).rowcount
                    == 1
                )

        return await self._run(finish)

    # -- grants ------------------------------------------------------------------------
    async def put_grant(self, grant: Grant) -> Grant:
        def put() -> Grant:
            db = self._conn
            with self._tx():
                row = db.execute(
                    f"SELECT {_GRANT_COLUMNS} FROM grants WHERE user_id=? AND owner_agent=? AND grantee_agent=? "
                    "AND revoked_at IS NULL",
                    (grant.user_id, grant.owner_agent, grant.grantee_agent),
                ).fetchone()
                if row is not None:
                    return _row_to_grant(row)
                db.execute(
                    f"INSERT INTO grants ({_GRANT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                    (grant.id, grant.user_id, grant.owner_agent, grant.grantee_agent, _ts(grant.granted_at),
                     grant.granted_by, _opt_ts(grant.revoked_at), grant.revoked_by),
                )  # fmt: skip
                return grant

        return await self._run(put)

    async def revoke_grant(self, user_id: str, owner_agent: str, grantee_agent: str, at: datetime, by: str) -> bool:
        def revoke() -> bool:
            with self._tx():
                return (
                    self._conn.execute(
                        "UPDATE grants SET revoked_at=?, revoked_by=? WHERE user_id=? AND owner_agent=? "
                        "AND grantee_agent=? AND revoked_at IS NULL",
                        (_ts(at), by, user_id, owner_agent, grantee_agent),
                    ).rowcount
                    > 0
                )

        return await self._run(revoke)

    async def list_grants(
        self, user_id: str, *, owner_agent: str = "", grantee_agent: str = "", include_revoked: bool = False
    ) -> list[Grant]:
        sql, params = f"SELECT {_GRANT_COLUMNS} FROM grants WHERE user_id=?", [user_id]
        if owner_agent:
            sql, params = sql + " AND owner_agent=?", [*params, owner_agent]
        if grantee_agent:
            sql, params = sql + " AND grantee_agent=?", [*params, grantee_agent]
        if not include_revoked:
            sql += " AND revoked_at IS NULL"
        rows = await self._run(lambda: self._conn.execute(sql + " ORDER BY granted_at, id", params).fetchall())
        return [_row_to_grant(r) for r in rows]

    def _history_sync(self, memory_id: str, scope: Scope) -> list[HistoryEntry] | None:
        where, params = _scope_sql(scope, keyed=True)
        if (
            self._conn.execute(f"SELECT 1 FROM memories WHERE id=? AND {where}", [memory_id, *params]).fetchone()
            is None
        ):
            return None
        rows = self._conn.execute(f"SELECT {_HISTORY_COLUMNS} FROM history WHERE memory_id=? ORDER BY id", (memory_id,))
        return [history_from_fields(dict(zip(r.keys(), r, strict=True))) for r in rows]

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
        where, params = _scope_sql(scope)
        pmarks, omarks = ",".join("?" * len(predicates)), ",".join("?" * len(objects))
        out: list[Relation] = []
        for chunk in _chunks(subjects, 200):
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
        for chunk in _chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT a.alias, e.name FROM aliases a JOIN entities e ON e.namespace=a.namespace AND e.norm=a.entity "
                f"WHERE a.namespace=? AND a.alias IN ({marks})",
                [scope.namespace, *chunk],
            )
            found.update((r[0], r[1]) for r in rows)
        return {n: found[norm(n)] for n in names if norm(n) in found}

    # -- graph -----------------------------------------------------------------------
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
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for r in self._conn.execute(
                f"SELECT memory_id, subject, object FROM relations WHERE memory_id IN ({marks})", chunk
            ):
                names = out.setdefault(r[0], [])
                for n in (r[1], r[2]):
                    if n not in names:
                        names.append(n)
        return out

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
                _opt_dt(data["valid_from"]),
                _opt_dt(data["valid_to"]),
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
        for chunk in _chunks(sorted(nodes), 500):
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

    # -- the networkx mirror -------------------------------------------------------------
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

    # -- consistency ---------------------------------------------------------------------
    async def pending_index(self, limit: int) -> PendingIndex:
        return await self._run(self._pending_sync, limit)

    def _pending_sync(self, limit: int) -> PendingIndex:
        rows = self._conn.execute(
            f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE indexed=0 ORDER BY created_at LIMIT ?", (limit,)
        ).fetchall()
        return _pending(rows)

    async def mark_indexed(self, done: Mapping[str, int]) -> set[str]:
        return await self._run(self._mark_sync, dict(done))

    def _mark_sync(self, done: dict[str, int]) -> set[str]:
        # A lost "indexed" mark only means one idempotent re-upsert by the reconciler,
        # so this commit skips the fsync (WAL + synchronous=NORMAL: still atomic).
        self._conn.execute("PRAGMA synchronous=NORMAL")
        stale: set[str] = set()
        try:
            with self._tx():
                for i, v in done.items():
                    cur = self._conn.execute("UPDATE memories SET indexed=1 WHERE id=? AND version=?", (i, v))
                    if cur.rowcount == 0:
                        stale.add(i)
        finally:
            self._conn.execute("PRAGMA synchronous=FULL")
        return stale

    async def index_targets(self, ids: Sequence[str]) -> PendingIndex:
        return await self._run(self._targets_sync, list(dict.fromkeys(ids)))

    def _targets_sync(self, ids: list[str]) -> PendingIndex:
        rows: list[sqlite3.Row] = []
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            rows += self._conn.execute(f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE id IN ({marks})", chunk)
        return _pending(rows)

    async def index_state(self) -> dict[str, bool]:
        rows = await self._run(lambda: self._conn.execute("SELECT id, state FROM memories").fetchall())
        return {r[0]: r[1] == "active" for r in rows}

    async def graph_drift(self, samples: int = 10) -> GraphDrift:
        return await self._run(self._drift_sync, samples)

    def _drift_sync(self, samples: int) -> GraphDrift:
        db = self._conn
        orphan_rel = (
            "FROM relations r LEFT JOIN memories m ON m.id = r.memory_id WHERE m.id IS NULL OR m.state != 'active'"
        )
        orphan_ent = (
            "FROM entities e WHERE NOT EXISTS (SELECT 1 FROM relations r WHERE r.namespace = e.namespace "
            "AND (r.subject = e.norm OR r.object = e.norm))"
        )
        return GraphDrift(
            orphan_relations=int(db.execute(f"SELECT count(*) {orphan_rel}").fetchone()[0]),
            orphan_entities=int(db.execute(f"SELECT count(*) {orphan_ent}").fetchone()[0]),
            relation_samples=tuple(
                f"{r[0]} -{r[1]}-> {r[2]} (memory {r[3]})"
                for r in db.execute(
                    f"SELECT r.subject, r.predicate, r.object, r.memory_id {orphan_rel} LIMIT ?", (samples,)
                )
            ),
            entity_samples=tuple(
                f"{r[0]}/{r[1]}" for r in db.execute(f"SELECT e.namespace, e.name {orphan_ent} LIMIT ?", (samples,))
            ),
        )

    async def count_memories(self) -> int:
        row = await self._run(
            lambda: self._conn.execute("SELECT count(*) FROM memories WHERE state='active'").fetchone()
        )
        return int(row[0])

    async def count_user_memories(self, user_id: str) -> int:
        row = await self._run(
            lambda: self._conn.execute(
                "SELECT count(*) FROM memories WHERE user_id=? AND state='active'", (user_id,)
            ).fetchone()
        )
        return int(row[0])

    # -- erasure ---------------------------------------------------------------------------
    async def begin_erasure(self, erasure: Erasure) -> None:
        def begin() -> None:
            with self._tx():
                self._conn.execute(
                    f"INSERT OR IGNORE INTO erasures ({_ERASURE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                    (erasure.id, erasure.scope.user_id, erasure.scope.agent_id, erasure.scope.run_id,
                     _ts(erasure.requested_at), erasure.requested_by, erasure_counts_json(erasure.counts), None),
                )  # fmt: skip

        await self._run(begin)

    async def unfinished_erasures(self) -> list[Erasure]:
        rows = await self._run(
            lambda: self._conn.execute(
                f"SELECT {_ERASURE_COLUMNS} FROM erasures WHERE completed_at IS NULL ORDER BY requested_at"
            ).fetchall()
        )
        return [_row_to_erasure(r) for r in rows]

    async def get_erasure(self, erasure_id: str) -> Erasure | None:
        row = await self._run(
            lambda: self._conn.execute(f"SELECT {_ERASURE_COLUMNS} FROM erasures WHERE id=?", (erasure_id,)).fetchone()
        )
        return None if row is None else _row_to_erasure(row)

    async def erase_scope(self, erasure_id: str, scope: Scope) -> ErasureCounts:
        return await self._run(self._erase_sync, erasure_id, scope)

    def _erase_sync(self, erasure_id: str, scope: Scope) -> ErasureCounts:
        # Erased means gone from the file, not only from the tables: secure_delete zeroes the
        # pages this erasure frees, the FTS5 'optimize' rewrites the index without the deleted
        # postings (a contentless index keeps them in its old segments until a merge), and the
        # checkpoint moves all of it into the database file and empties the write-ahead log,
        # which still holds the pages as they were before.
        with self._scrubbing():
            return self._erase_rows(erasure_id, scope)

    @contextmanager
    def _scrubbing(self) -> Iterator[None]:
        db = self._conn
        db.execute("PRAGMA secure_delete=ON")
        try:
            yield
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.execute("PRAGMA secure_delete=OFF")

    def _erase_rows(self, erasure_id: str, scope: Scope) -> ErasureCounts:
        db = self._conn
        where, params = _scope_sql(scope)
        with self._tx():
            rows = db.execute(f"SELECT id, user_id, agent_id, run_id FROM memories WHERE {where}", params).fetchall()
            ids = [r[0] for r in rows]
            namespaces = {Scope(r[1], r[2], r[3]).namespace for r in rows}
            touched = self._relation_entities(ids)
            relations = history = 0
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                relations += db.execute(f"DELETE FROM relations WHERE memory_id IN ({marks})", chunk).rowcount
                history += db.execute(f"DELETE FROM history WHERE memory_id IN ({marks})", chunk).rowcount
                db.execute(f"DELETE FROM memories WHERE id IN ({marks})", chunk)
            episodes = db.execute(f"DELETE FROM episodes WHERE {where}", params).rowcount
            operations = db.execute(f"DELETE FROM operations WHERE {where}", params).rowcount
            gwhere, gparams = _grant_sql(scope)
            grants = db.execute(f"DELETE FROM grants WHERE {gwhere}", gparams).rowcount if gwhere else 0
            entities = len(self._drop_orphan_entities(touched))
            if scope.user_id and not scope.agent_id and not scope.run_id and not scope.exact:  # the namespace goes
                ns = Scope(scope.user_id).namespace
                namespaces.add(ns)
                entities += db.execute("DELETE FROM entities WHERE namespace=?", (ns,)).rowcount
                db.execute("DELETE FROM aliases WHERE namespace=?", (ns,))
            if ids:
                db.execute("INSERT INTO memories_fts(memories_fts) VALUES('optimize')")
            counts = ErasureCounts(
                memories=len(ids), relations=relations, entities=entities, episodes=episodes,
                history_entries=history, operations=operations, grants=grants,
            )  # fmt: skip
            row = db.execute("SELECT counts FROM erasures WHERE id=?", (erasure_id,)).fetchone()
            if row is not None:
                total = erasure_counts_from_json(row[0]) + counts
                db.execute("UPDATE erasures SET counts=? WHERE id=?", (erasure_counts_json(total), erasure_id))
        with self._graph_lock:
            for ns in namespaces:
                self._graphs.pop(ns, None)  # reloaded from SQLite at the next use
                self._mirror_changed(ns)
        decode_cache_clear()
        return counts

    async def finish_erasure(self, erasure_id: str, vectors: int, at: datetime, pseudonym: Scope) -> Erasure:
        def finish() -> Erasure:  # the user's id in the erasure's row becomes the pseudonym, in the file too
            db = self._conn
            with self._scrubbing(), self._tx():
                row = db.execute(f"SELECT {_ERASURE_COLUMNS} FROM erasures WHERE id=?", (erasure_id,)).fetchone()
                if row is None:
                    raise KeyError(erasure_id)
                e = _row_to_erasure(row)
                if e.completed_at is None:
                    total = e.counts + ErasureCounts(vectors=vectors)
                    db.execute(
                        "UPDATE erasures SET counts=?, completed_at=?, user_id=?, agent_id=?, run_id=? WHERE id=?",
                        (erasure_counts_json(total), _ts(at), pseudonym.user_id, pseudonym.agent_id, pseudonym.run_id,
                         erasure_id),
                    )  # fmt: skip
                row = db.execute(f"SELECT {_ERASURE_COLUMNS} FROM erasures WHERE id=?", (erasure_id,)).fetchone()
                return _row_to_erasure(row)

        return await self._run(finish)

    # -- credentials (the control plane) ----------------------------------------------------
    async def put_api_key(self, key: ApiKey) -> None:
        def put() -> None:
            with self._tx():
                self._conn.execute(
                    f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (key.id, key.tenant, key.name, int(key.role), key.secret_hash, json.dumps(sorted(key.users)),
                     json.dumps(sorted(key.agents)), _ts(key.created_at), key.created_by, _opt_ts(key.revoked_at),
                     key.revoked_by),
                )  # fmt: skip

        await self._run(put)

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        row = await self._run(
            lambda: self._conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id=?", (key_id,)).fetchone()
        )
        return None if row is None else _row_to_key(row)

    async def list_api_keys(self, tenant: str, *, include_revoked: bool = False) -> list[ApiKey]:
        where = " AND ".join(
            [c for c, on in (("tenant=?", bool(tenant)), ("revoked_at IS NULL", not include_revoked)) if on] or ["1"]
        )
        rows = await self._run(
            lambda: self._conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE {where} ORDER BY created_at, id", [tenant] if tenant else []
            ).fetchall()
        )
        return [_row_to_key(r) for r in rows]

    async def revoke_api_key(self, key_id: str, at: datetime, by: str) -> ApiKey | None:
        def revoke() -> ApiKey | None:
            db = self._conn
            with self._tx():
                db.execute(
                    "UPDATE api_keys SET revoked_at=?, revoked_by=? WHERE id=? AND revoked_at IS NULL",
                    (_ts(at), by, key_id),
                )
                row = db.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id=?", (key_id,)).fetchone()
            return None if row is None else _row_to_key(row)

        return await self._run(revoke)

    async def register_tenant(self, tenant: str, at: datetime) -> None:
        def register() -> None:
            with self._tx():
                self._conn.execute("INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)", (tenant, _ts(at)))

        await self._run(register)

    async def list_tenants(self) -> list[str]:
        rows = await self._run(lambda: self._conn.execute("SELECT name FROM tenants ORDER BY name").fetchall())
        return [r[0] for r in rows]


def _migrate(db: sqlite3.Connection, script: str, version: int) -> None:
    """Apply one schema step (statements ending in ``;`` at line ends, trigger bodies included) in
    one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for stmt in _statements(script):
            db.execute(stmt)
        db.execute(f"PRAGMA user_version={version}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _statements(script: str) -> Iterator[str]:
    """The statements of ``script``: pieces between ``;`` at line ends, joined again while one is
    incomplete (a trigger body's own statements end in ``;`` too)."""
    pending = ""
    for piece in script.split(";\n"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending.strip()
            pending = ""
        else:
            pending += "\n"
    if pending.strip(" \n;"):
        raise ValueError(f"incomplete statement in a schema step: {pending!r}")


def _migrate_to_micros(db: sqlite3.Connection) -> None:
    """recalld 0.1 stored REAL seconds; one transaction turns them into integer microseconds."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for table, columns in _TIME_COLUMNS.items():
            sets = ", ".join(f"{c} = CAST(round({c} * 1000000) AS INTEGER)" for c in columns)
            db.execute(f"UPDATE {table} SET {sets}")
        db.execute("PRAGMA user_version=1")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _pending(rows: Sequence[sqlite3.Row]) -> PendingIndex:
    ups = tuple((_row_to_memory(r), r["version"]) for r in rows if r["state"] == "active")
    dels = tuple((r["id"], r["version"]) for r in rows if r["state"] != "active")
    return PendingIndex(upserts=ups, deletes=dels)


def _check_current(memory_id: str, row: sqlite3.Row | None, expected: int) -> None:
    if row is None or row["state"] != "active":
        raise memory_gone(memory_id)
    if row["version"] != expected:
        raise version_conflict(memory_id, row["version"], expected)


def _opt_ts(dt: datetime | None) -> int | None:
    return None if dt is None else _ts(dt)


def _opt_dt(us: int | None) -> datetime | None:
    return None if us is None else _dt(us)


def _row_to_operation(r: sqlite3.Row) -> Operation:
    return Operation(
        id=r["id"],
        scope=Scope(r["user_id"], r["agent_id"], r["run_id"]),
        request=r["request"],
        status=OperationStatus(r["status"]),
        created_at=_dt(r["created_at"]),
        updated_at=_dt(r["updated_at"]),
        attempts=r["attempts"],
        error=r["error"],
        result=r["result"],
        owner=r["owner"],
        lease_until=_opt_dt(r["lease_until"]),
    )


def _grant_sql(scope: Scope) -> tuple[str, list[Any]]:
    """The grants an erasure of ``scope`` removes: about its user, and/or given or held by its agent
    (a run has none)."""
    clauses: list[str] = []
    params: list[Any] = []
    if scope.user_id:
        clauses.append("user_id = ?")
        params.append(scope.user_id)
    if scope.agent_id:
        clauses.append("(owner_agent = ? OR grantee_agent = ?)")
        params += [scope.agent_id, scope.agent_id]
    if scope.run_id:
        return "", []
    return " AND ".join(clauses), params


def _row_to_key(r: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=r["id"],
        tenant=r["tenant"],
        name=r["name"],
        role=Role(r["role"]),
        secret_hash=r["secret_hash"],
        users=frozenset(json.loads(r["users"])),
        agents=frozenset(json.loads(r["agents"])),
        created_at=_dt(r["created_at"]),
        created_by=r["created_by"],
        revoked_at=_opt_dt(r["revoked_at"]),
        revoked_by=r["revoked_by"],
    )


def _row_to_erasure(r: sqlite3.Row) -> Erasure:
    return Erasure(
        id=r["id"],
        scope=Scope(r["user_id"], r["agent_id"], r["run_id"]),
        requested_at=_dt(r["requested_at"]),
        requested_by=r["requested_by"],
        counts=erasure_counts_from_json(r["counts"]),
        completed_at=_opt_dt(r["completed_at"]),
    )


def _row_to_grant(r: sqlite3.Row) -> Grant:
    return Grant(
        id=r["id"],
        user_id=r["user_id"],
        owner_agent=r["owner_agent"],
        grantee_agent=r["grantee_agent"],
        granted_at=_dt(r["granted_at"]),
        granted_by=r["granted_by"],
        revoked_at=_opt_dt(r["revoked_at"]),
        revoked_by=r["revoked_by"],
    )


def _validity_sql(validity: Validity | None, table: str = "") -> tuple[str, list[Any]]:
    """The world-validity clause on ``memories`` (see Validity), its columns qualified by ``table``
    when given."""
    p = f"{table}." if table else ""
    if validity is None or validity.include_retired:
        return "", []
    if validity.as_of is not None:
        t = _ts(validity.as_of)
        return f" AND {p}valid_from <= ? AND ({p}valid_to IS NULL OR {p}valid_to > ?)", [t, t]
    return f" AND {p}valid_to IS NULL", []


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


def _time_sql(tr: TimeRange | None, table: str = "") -> tuple[str, list[Any]]:
    p = f"{table}." if table else ""
    sql, params = "", []
    if tr is not None and tr.start is not None:
        sql += f" AND {p}reference_time >= ?"
        params.append(_ts(tr.start))
    if tr is not None and tr.end is not None:
        sql += f" AND {p}reference_time < ?"
        params.append(_ts(tr.end))
    return sql, params


def owner_token(user_id: str) -> str:
    """The lexical index's owner token of a user: what _V5's triggers write ("u" + UTF-8 hex, only
    [0-9a-f] after the "u", so it needs no escaping inside an FTS5 string)."""
    return "u" + user_id.encode().hex()


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])
