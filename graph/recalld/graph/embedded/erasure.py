"""ErasureLog of the embedded store: the request recorded in ``erasures`` before anything goes,
then every row of the scope removed in one transaction and scrubbed from the file (secure_delete,
FTS5 optimize, a WAL checkpoint); the mirrors of the namespaces it touched are dropped."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from recalld.graph.embedded.mirror import GraphMirror
from recalld.graph.embedded.relations import RelationRows
from recalld.graph.embedded.sql import chunks, opt_dt, scope_sql
from recalld.graph.rows import decode_cache_clear, erasure_counts_from_json, erasure_counts_json
from recalld.kernel.domain import Erasure, ErasureCounts, Scope
from recalld.kernel.times import from_micros as _dt
from recalld.kernel.times import to_micros as _ts

_ERASURE_COLUMNS = "id, user_id, agent_id, run_id, requested_at, requested_by, counts, completed_at"


class EmbeddedErasureLog(RelationRows, GraphMirror):
    """Erasure of a scope: recorded before anything is removed, resumed after a crash."""

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
        where, params = scope_sql(scope)
        with self._tx():
            rows = db.execute(f"SELECT id, user_id, agent_id, run_id FROM memories WHERE {where}", params).fetchall()
            ids = [r[0] for r in rows]
            namespaces = {Scope(r[1], r[2], r[3]).namespace for r in rows}
            touched = self._relation_entities(ids)
            relations = history = 0
            for chunk in chunks(ids, 500):
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


def _row_to_erasure(r: sqlite3.Row) -> Erasure:
    return Erasure(
        id=r["id"],
        scope=Scope(r["user_id"], r["agent_id"], r["run_id"]),
        requested_at=_dt(r["requested_at"]),
        requested_by=r["requested_by"],
        counts=erasure_counts_from_json(r["counts"]),
        completed_at=opt_dt(r["completed_at"]),
    )
