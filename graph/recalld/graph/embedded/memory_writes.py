"""MemoryWrites of the embedded store: each write is one transaction (BEGIN IMMEDIATE), a
compare-and-set where it changes an existing memory, and the networkx mirror follows once it has
committed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime

from recalld.graph.embedded.mirror import GraphMirror
from recalld.graph.embedded.relations import RelationRows
from recalld.graph.embedded.sql import HISTORY_COLUMNS, MEMORY_COLUMNS, chunks, opt_ts, scope_sql
from recalld.graph.rows import attributes_json, triples_from_json, triples_json
from recalld.kernel.domain import Episode, EventKind, HistoryEntry, Memory, Scope, norm
from recalld.kernel.errors import Conflict, memory_gone, version_conflict
from recalld.kernel.ports import Retirement
from recalld.kernel.times import to_micros as _ts


class EmbeddedMemoryWrites(RelationRows, GraphMirror):
    """Adds, replacements, deletions and use marks of memories."""

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
            for chunk in chunks(list(dict.fromkeys(reinforce)), 500):
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
            f"INSERT INTO memories ({MEMORY_COLUMNS}, indexed) VALUES ({','.join('?' * 26)},0)",
            (
                m.id,
                s.user_id,
                s.agent_id,
                s.run_id,
                m.text,
                m.content_hash,
                json.dumps(m.metadata),
                triples_json(m.triples),
                m.episode_id,
                _ts(m.reference_time),
                _ts(m.created_at),
                _ts(m.updated_at),
                m.state.value,
                m.version,
                _ts(m.valid_from or m.reference_time),
                opt_ts(m.valid_to),
                opt_ts(m.retired_at),
                m.superseded_by,
                m.retired_by_rule,
                m.confirmations,
                _ts(m.confirmed_at or m.reference_time),
                m.importance,
                opt_ts(m.last_used_at),
                opt_ts(m.expires_at),
                attributes_json(m.attributes),
                m.speaker,
            ),
        )

    def _insert_history(self, history: Sequence[HistoryEntry]) -> None:
        self._conn.executemany(
            f"INSERT INTO history ({HISTORY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
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
                    triples_json(h.old_triples),
                    triples_json(h.new_triples),
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
                    triples_json(m.triples),
                    _ts(m.updated_at),
                    m.version,
                    m.importance,
                    opt_ts(m.expires_at),
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
            for chunk in chunks(ids, 500):
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

    async def touch_memories(self, ids: Sequence[str], scope: Scope, at: datetime) -> int:
        return await self._run(self._touch_sync, list(dict.fromkeys(ids)), scope, at)

    def _touch_sync(self, ids: list[str], scope: Scope, at: datetime) -> int:
        where, params = scope_sql(scope, keyed=True)
        n = 0
        with self._tx():
            for chunk in chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                n += self._conn.execute(
                    f"UPDATE memories SET last_used_at=max(coalesce(last_used_at, 0), ?) "
                    f"WHERE id IN ({marks}) AND state='active' AND {where}",
                    [_ts(at), *chunk, *params],
                ).rowcount
        return n


def _check_current(memory_id: str, row: sqlite3.Row | None, expected: int) -> None:
    if row is None or row["state"] != "active":
        raise memory_gone(memory_id)
    if row["version"] != expected:
        raise version_conflict(memory_id, row["version"], expected)
