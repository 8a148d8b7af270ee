"""The embedded store's tables, and the migrations that bring an older file up to date at open
(PRAGMA user_version, one transaction per step)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

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
_TIME_COLUMNS = {
    "episodes": ("reference_time", "created_at"),
    "memories": ("reference_time", "created_at", "updated_at"),
    "relations": ("created_at",),
    "history": ("at",),
}


def ensure_schema(db: sqlite3.Connection) -> None:
    """Create the tables of a new file, or migrate an older one to _SCHEMA_VERSION step by step."""
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
