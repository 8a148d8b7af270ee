"""IndexLedger of the embedded store: the ``version`` and ``indexed`` columns of ``memories`` say
what the vector index must hold; orphan relations and entities are the graph's drift."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from recalld.graph.embedded.connection import EmbeddedStoreBase
from recalld.graph.embedded.sql import MEMORY_COLUMNS, chunks, row_to_memory
from recalld.kernel.ports import GraphDrift, PendingIndex


class EmbeddedIndexLedger(EmbeddedStoreBase):
    """Consistency with the vector index: what it must hold, what it holds, and drift."""

    async def pending_index(self, limit: int) -> PendingIndex:
        return await self._run(self._pending_sync, limit)

    def _pending_sync(self, limit: int) -> PendingIndex:
        rows = self._conn.execute(
            f"SELECT {MEMORY_COLUMNS} FROM memories WHERE indexed=0 ORDER BY created_at LIMIT ?", (limit,)
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
        for chunk in chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            rows += self._conn.execute(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id IN ({marks})", chunk)
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


def _pending(rows: Sequence[sqlite3.Row]) -> PendingIndex:
    ups = tuple((row_to_memory(r), r["version"]) for r in rows if r["state"] == "active")
    dels = tuple((r["id"], r["version"]) for r in rows if r["state"] != "active")
    return PendingIndex(upserts=ups, deletes=dels)
