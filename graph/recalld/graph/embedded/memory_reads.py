"""MemoryReads of the embedded store: memories and episodes by id, scope, content hash or
attribute, history, expiry and counts. Scope, metadata filters, time range and validity are
clauses of the statement (sql.py), never applied after."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from recalld.graph.embedded.connection import EmbeddedStoreBase
from recalld.graph.embedded.sql import (
    HISTORY_COLUMNS,
    MEMORY_COLUMNS,
    chunks,
    row_to_memory,
    scope_sql,
    time_sql,
    validity_sql,
)
from recalld.graph.rows import attribute_name_marker, history_from_fields
from recalld.graph.sqlite_filters import sql_metadata_filter
from recalld.kernel.domain import CURRENT, HistoryEntry, Memory, MetadataFilter, Scope, TimeRange, Validity
from recalld.kernel.ports import Cursor
from recalld.kernel.times import to_micros as _ts


class EmbeddedMemoryReads(EmbeddedStoreBase):
    """Reads of memories and episodes."""

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
        where, params = scope_sql(scope, keyed=True)
        fsql, fparams = sql_metadata_filter(filters)
        tsql, tparams = time_sql(time_range)
        vsql, vparams = validity_sql(validity)
        tsql, tparams = tsql + vsql, tparams + vparams
        out: dict[str, Memory] = {}
        for chunk in chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id IN ({marks}) AND state='active' AND {where}"
                f"{fsql}{tsql}",
                [*chunk, *params, *fparams, *tparams],
            )
            out.update((r["id"], row_to_memory(r)) for r in rows)
        return out

    async def get_all(self, ids: Sequence[str]) -> list[Memory]:
        return await self._run(self._get_all_sync, list(ids))

    def _get_all_sync(self, ids: list[str]) -> list[Memory]:
        out: list[Memory] = []
        for chunk in chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id IN ({marks}) AND state='active'", chunk
            )
            out.extend(row_to_memory(r) for r in rows)
        return out

    async def get_any(self, memory_id: str, scope: Scope) -> Memory | None:
        where, params = scope_sql(scope, keyed=True)
        row = await self._run(
            lambda: self._conn.execute(
                f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id=? AND {where}", [memory_id, *params]
            ).fetchone()
        )
        return None if row is None else row_to_memory(row)

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
        where, params = scope_sql(scope)
        fsql, fparams = sql_metadata_filter(filters)
        if not include_retired:
            fsql += " AND valid_to IS NULL"
        csql, cparams = "", []
        if after is not None:
            csql = " AND (created_at < ? OR (created_at = ? AND id < ?))"
            ts = _ts(after.created_at)
            cparams = [ts, ts, after.memory_id]
        rows = self._conn.execute(
            f"SELECT {MEMORY_COLUMNS} FROM memories WHERE state='active' AND {where}{fsql}{csql} "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            [*params, *fparams, *cparams, limit],
        )
        return [row_to_memory(r) for r in rows]

    async def find_scope_ids(self, scope: Scope) -> list[str]:
        where, params = scope_sql(scope)
        rows = await self._run(
            lambda: self._conn.execute(f"SELECT id FROM memories WHERE state='active' AND {where}", params).fetchall()
        )
        return [r[0] for r in rows]

    async def find_by_hash(self, scope: Scope, hashes: Sequence[str]) -> dict[str, str]:
        return await self._run(self._by_hash_sync, scope, list(hashes))

    def _by_hash_sync(self, scope: Scope, hashes: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        s = scope
        for chunk in chunks(hashes, 500):
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

    def _history_sync(self, memory_id: str, scope: Scope) -> list[HistoryEntry] | None:
        where, params = scope_sql(scope, keyed=True)
        if (
            self._conn.execute(f"SELECT 1 FROM memories WHERE id=? AND {where}", [memory_id, *params]).fetchone()
            is None
        ):
            return None
        rows = self._conn.execute(f"SELECT {HISTORY_COLUMNS} FROM history WHERE memory_id=? ORDER BY id", (memory_id,))
        return [history_from_fields(dict(zip(r.keys(), r, strict=True))) for r in rows]

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
        where, params = scope_sql(scope)
        vsql, vparams = validity_sql(validity)
        if names:
            vsql += " AND (" + " OR ".join("instr(attributes, ?) > 0" for _ in names) + ")"
            vparams += [attribute_name_marker(n) for n in names]
        rows = await self._run(
            lambda: self._conn.execute(
                f"SELECT {MEMORY_COLUMNS} FROM memories WHERE state='active' AND attributes != '[]' AND {where}{vsql} "
                "ORDER BY reference_time, id",
                [*params, *vparams],
            ).fetchall()
        )
        return [row_to_memory(r) for r in rows]

    async def episode_exists(self, episode_id: str) -> bool:
        row = await self._run(lambda: self._conn.execute("SELECT 1 FROM episodes WHERE id=?", (episode_id,)).fetchone())
        return row is not None

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
