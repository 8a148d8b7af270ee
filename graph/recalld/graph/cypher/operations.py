"""OperationLog: the asynchronous Adds, recorded durably and claimed under a lease by one worker.

    (:Operation {id, user_id, agent_id, run_id, request, status, created_at, updated_at, attempts,
                 error, result, owner, lease_until, seq})    unique id; status indexed

Enqueueing is serialized by the operation Counter (recalld.graph.cypher.runner.SERIALIZE), whose
value numbers the operations (``seq``: the order they were recorded in); claiming and finishing
are compare-and-sets on the operation's own lock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from recalld.graph.cypher.runner import SERIALIZE, CypherStoreBase, Query
from recalld.graph.cypher.values import opt_time
from recalld.kernel.domain import Operation, OperationStatus, Scope
from recalld.kernel.errors import ResourceExhausted
from recalld.kernel.times import from_micros, to_micros

OPERATION_COUNTER = "operation"

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
_LOCK_OPERATION = "SET o._lock = true SET o._lock = null"


# Records the operation unless $limit are unfinished already; returns how many were (the store
# raises when that reached the limit: nothing was written then). The counter is bumped outside the
# FOREACH: FalkorDB drops a SET on an outer variable made inside one (checked: every seq was 1).
ENQUEUE_OPERATION = f"""
{SERIALIZE}
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
        lease_until=opt_time(row["lease_until"]),
    )


class CypherOperationLog(CypherStoreBase):
    """OperationLog over the runner."""

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
