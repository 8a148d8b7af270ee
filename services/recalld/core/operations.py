"""Asynchronous Add: record the request durably, answer, apply it in the background.

- Submit checks the request exactly as a synchronous Add would, then records it as a PENDING
  operation in the system of record (one transaction, refused with RESOURCE_EXHAUSTED beyond the
  backlog limit) and answers with its id.
- Workers apply operations in order per user: every scope of one user (its entity namespace)
  maps to one of ``workers`` queues, and a queue runs one operation at a time, retrying it
  before it moves on, so two Adds for one user never apply out of order.
- Exactly once in effect: an operation becomes the episode with the same id, written in the same
  transaction as its memories. A worker first claims the operation (compare-and-set, with a
  lease it renews while it works); if the episode already exists (the process died after the
  write and before recording the outcome) it only records the outcome.
- Start-up loads every unfinished operation in the order recorded. With a store used by one
  process only (the embedded store) the leases of the dead process are taken over at once;
  replicas sharing a store wait for a lease to run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from recalld.core.memory import MemoryPipeline
from recalld.core.settings import AsyncSettings
from recalld.kernel.domain import ChatMessage, MemoryEvent, Operation, OperationStatus
from recalld.kernel.errors import Conflict, InvalidArgument, NotFound, RecalldError, ResourceExhausted
from recalld.kernel.ports import MemoryReads, OperationLog
from recalld.kernel.requests import AddCommand
from recalld.kernel.times import from_micros, to_micros
from recalld.kernel.validation import validate_memory_id

log = logging.getLogger(__name__)
_FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)
_PERMANENT = (InvalidArgument, NotFound, ResourceExhausted)


@dataclass(frozen=True, slots=True)
class OperationResult:
    """What an applied operation did to one memory (memory ids only: read them with Get)."""

    memory_id: str
    event: str
    rule: str
    related_ids: tuple[str, ...]


def encode_request(cmd: AddCommand, reference_time: datetime) -> str:
    """An Add as the operation log keeps it (its scope and id are the operation's own)."""
    return json.dumps(
        {
            "messages": [[m.role, m.content, m.name] for m in cmd.messages],
            "metadata": dict(cmd.metadata or {}),
            "reference_time": to_micros(reference_time),
            "infer": cmd.infer,
            "importance": cmd.importance,
            "ttl_s": cmd.ttl.total_seconds() if cmd.ttl is not None else None,
        }
    )


def decode_request(op: Operation) -> AddCommand:
    """The Add an operation records, to apply under the operation's id."""
    req = json.loads(op.request)
    return AddCommand(
        op.scope,
        [ChatMessage(*m) for m in req["messages"]],
        metadata=req["metadata"],
        reference_time=from_micros(req["reference_time"]),
        infer=req["infer"],
        importance=req["importance"],
        ttl=timedelta(seconds=req["ttl_s"]) if req["ttl_s"] is not None else None,
        episode_id=op.id,
    )


def decode_results(op: Operation) -> list[OperationResult]:
    if not op.result:
        return []
    return [OperationResult(r[0], r[1], r[2], tuple(r[3])) for r in json.loads(op.result)["results"]]


def _encode_results(events: Sequence[MemoryEvent]) -> str:
    return json.dumps({"results": [[e.memory.id, e.event.value, e.rule, list(e.related_ids)] for e in events]})


class OperationStore(OperationLog, MemoryReads, Protocol):
    """The graph store as the runner uses it: the operation log, and whether an operation's
    episode was recorded."""


class OperationRunner:
    def __init__(
        self, *, graph: OperationStore, pipeline: MemoryPipeline, settings: AsyncSettings, exclusive: bool
    ) -> None:
        """``exclusive``: no other process uses the store (take over leases at start-up)."""
        self._graph = graph
        self._pipeline = pipeline
        self._s = settings
        self._exclusive = exclusive
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._queues: list[asyncio.Queue[str]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._changed = asyncio.Condition()

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> int:
        """Start the workers and queue every unfinished operation. Returns how many were queued."""
        self._queues = [asyncio.Queue() for _ in range(max(1, self._s.workers))]
        self._workers = [asyncio.create_task(self._work(q), name=f"async-add-{i}") for i, q in enumerate(self._queues)]
        resumed = 0
        for op in await self._graph.unfinished_operations(self._s.max_backlog + 1000):
            self._dispatch(op)
            resumed += 1
        if resumed:
            log.info("resuming %d asynchronous Adds", resumed)
        return resumed

    async def close(self) -> None:
        for w in self._workers:
            w.cancel()
        for w in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await w
        self._workers = []

    # -- API -----------------------------------------------------------------------------------
    async def submit(self, cmd: AddCommand) -> Operation:
        """Check the Add, record it durably and queue it. The reference time defaults to now (the
        moment of the request, not of the apply)."""
        self._pipeline.check_add(cmd)
        now = datetime.now(UTC)
        op = Operation(
            id=str(uuid.uuid4()),
            scope=cmd.scope,
            request=encode_request(cmd, cmd.reference_time or now),
            status=OperationStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        await self._graph.enqueue_operation(op, self._s.max_backlog)
        self._dispatch(op)
        return op

    async def get(self, operation_id: str) -> Operation:
        _check_id(operation_id)
        op = await self._graph.get_operation(operation_id)
        if op is None:
            raise NotFound(f"operation {operation_id} not found")
        return op

    async def watch(self, operation_ids: Sequence[str], *, poll_s: float = 1.0) -> AsyncIterator[Operation]:
        """Each operation now, then again whenever its status changes; ends when all are done.
        Changes made by this process wake the watcher at once; others are seen by polling."""
        if not operation_ids or len(operation_ids) > 100:
            raise InvalidArgument("watch 1..100 operation ids")
        for i in operation_ids:
            _check_id(i)
        seen: dict[str, OperationStatus] = {}
        while True:
            ops = {i: await self._graph.get_operation(i) for i in dict.fromkeys(operation_ids)}
            missing = [i for i, op in ops.items() if op is None]
            if missing:
                raise NotFound(f"operation {missing[0]} not found")
            for i, op in ops.items():
                assert op is not None
                if seen.get(i) is not op.status:
                    seen[i] = op.status
                    yield op
            if all(s.done for s in seen.values()):
                return
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), poll_s)

    async def backlog(self) -> int:
        return await self._graph.count_unfinished_operations()

    # -- workers ---------------------------------------------------------------------------
    def _dispatch(self, op: Operation) -> None:
        if not self._queues:
            return  # not started: start() queues it from the store
        shard = zlib.crc32(op.scope.namespace.encode()) % len(self._queues)
        self._queues[shard].put_nowait(op.id)

    async def _work(self, queue: asyncio.Queue[str]) -> None:
        while True:
            operation_id = await queue.get()
            try:
                await self._run(operation_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("asynchronous Add %s: worker error; it stays queued in the store", operation_id)

    async def _run(self, operation_id: str) -> None:
        """Apply one operation, retrying until it is done (or another worker finished it)."""
        backoff = 0.2
        while True:
            op = await self._graph.get_operation(operation_id)
            if op is None or op.status.done:
                return
            now = datetime.now(UTC)
            lease = now + timedelta(seconds=self._s.lease_s)
            if not await self._graph.claim_operation(
                operation_id, self._owner, _FAR_FUTURE if self._exclusive else now, lease
            ):
                await asyncio.sleep(min(self._s.lease_s / 3, 1.0))  # another worker holds it
                continue
            status, result, error = await self._apply(op)
            if status is OperationStatus.PENDING and op.attempts + 1 >= self._s.max_attempts:
                status = OperationStatus.FAILED
            await self._graph.finish_operation(
                operation_id, self._owner, status, result=result, error=error, at=datetime.now(UTC)
            )
            async with self._changed:
                self._changed.notify_all()
            if status.done:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _apply(self, op: Operation) -> tuple[OperationStatus, str, str]:
        if await self._graph.episode_exists(op.id):
            # Applied before a crash that came before the outcome was recorded.
            return OperationStatus.SUCCEEDED, json.dumps({"results": [], "recovered": True}), ""
        heartbeat = asyncio.create_task(self._renew(op.id))
        try:
            _, events = await self._pipeline.add(decode_request(op))
        except _PERMANENT as exc:
            return OperationStatus.FAILED, "", str(exc)
        except (Conflict, RecalldError, Exception) as exc:
            log.warning("asynchronous Add %s failed (attempt %d): %s", op.id, op.attempts + 1, exc)
            return OperationStatus.PENDING, "", f"{type(exc).__name__}: {exc}"
        finally:
            heartbeat.cancel()
        return OperationStatus.SUCCEEDED, _encode_results(events), ""

    async def _renew(self, operation_id: str) -> None:
        while True:
            await asyncio.sleep(self._s.lease_s / 3)
            now = datetime.now(UTC)
            await self._graph.claim_operation(operation_id, self._owner, now, now + timedelta(seconds=self._s.lease_s))


def _check_id(operation_id: str) -> None:
    try:
        validate_memory_id(operation_id)
    except InvalidArgument:
        raise InvalidArgument(f"operation_id {operation_id[:80]!r} is not an operation id (a lowercase UUID)") from None
