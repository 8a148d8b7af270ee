"""OperationLog of the embedded store: the asynchronous Adds in ``operations``, claimed by one
worker under a lease (compare-and-set inside the transaction)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from recalld.graph.embedded.connection import EmbeddedStoreBase
from recalld.graph.embedded.sql import opt_dt, opt_ts
from recalld.kernel.domain import Operation, OperationStatus, Scope
from recalld.kernel.errors import ResourceExhausted
from recalld.kernel.times import from_micros as _dt
from recalld.kernel.times import to_micros as _ts

_OPERATION_COLUMNS = (
    "id, user_id, agent_id, run_id, request, status, created_at, updated_at, attempts, error, result, owner, "
    "lease_until"
)


class EmbeddedOperationLog(EmbeddedStoreBase):
    """The operation log of asynchronous Adds."""

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
                 _ts(op.updated_at), op.attempts, op.error, op.result, op.owner, opt_ts(op.lease_until)),
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
        lease_until=opt_dt(r["lease_until"]),
    )
