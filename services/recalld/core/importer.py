"""Bulk import: a stream of items, each what one Add would carry plus a client-given source id.

Items are taken in batches (``batch_size``, default 64): the batch's new items are extracted in
one pass (spaCy ``nlp.pipe`` over all their texts), their fact texts embedded in one embedder
call, then each item is written in order through the Add's own decision and write code
(:meth:`recalld.core.memory.MemoryPipeline.add_extracted`): one graph-store transaction per item, holding its
episode and memories, so an imported message gives what an Add of it would. The vector side of
the batch is written once, after its last item (:class:`recalld.core.bulk.PendingIndex`);
meanwhile reconciliation sees the batch's pending vectors as a sequence of Adds would.

Idempotency: an item's episode id is derived from its scope and source id
(:func:`episode_id_for`). The episode commits with the item's memories, so an item whose
episode exists was imported completely and is skipped, however the earlier import ended
(a SIGKILL included: memories committed but not yet indexed are finished by the reconciler).

Failure: a bad item (fails the Add checks, or has no source id) stops the import with the Add's
error naming the item; every item before it is written first, nothing of it or after it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from recalld.core.memory import MemoryPipeline
from recalld.kernel.domain import ChatMessage, EventKind, Fact, Metadata, Scope
from recalld.kernel.errors import InvalidArgument, RecalldError
from recalld.kernel.requests import AddCommand

log = logging.getLogger(__name__)

# uuid5 namespace of imported episodes (fixed: the same item gets the same id in every tenant,
# process and version; tenants have their own stores).
IMPORT_NAMESPACE = uuid.UUID("6f1d3c52-9b0e-4d8a-a4f2-1e7c5b9d2a30")
_SOURCE_ID = re.compile(r"^[^\x00-\x1f]{1,512}$")
DEFAULT_BATCH = 64


@dataclass(frozen=True, slots=True)
class ImportItem:
    source_id: str
    scope: Scope
    messages: tuple[ChatMessage, ...]
    metadata: Metadata = field(default_factory=dict)
    reference_time: datetime | None = None
    infer: bool = True
    importance: float | None = None
    ttl: timedelta | None = None

    def command(self) -> AddCommand:
        """The item as the Add it is imported as, under its derived episode id."""
        return AddCommand(
            self.scope, self.messages, metadata=self.metadata, reference_time=self.reference_time, infer=self.infer,
            importance=self.importance, ttl=self.ttl, episode_id=episode_id_for(self.scope, self.source_id),
        )  # fmt: skip


@dataclass(slots=True)
class ImportReport:
    received: int = 0
    imported: int = 0
    skipped_duplicates: int = 0
    memories_written: int = 0

    def progress(self) -> str:
        return (
            f"{self.received} items read, {self.imported} imported, {self.skipped_duplicates} skipped as "
            f"already imported, {self.memories_written} memories written"
        )


def episode_id_for(scope: Scope, source_id: str) -> str:
    """The episode id of an imported item: the same scope and source id, the same id."""
    key = "\x1f".join((scope.user_id, scope.agent_id, scope.run_id, source_id))
    return str(uuid.uuid5(IMPORT_NAMESPACE, key))


class Importer:
    def __init__(self, pipeline: MemoryPipeline, *, batch_size: int = DEFAULT_BATCH) -> None:
        if not 1 <= batch_size <= 10_000:
            raise ValueError("batch_size must be between 1 and 10000")
        self._pipeline = pipeline
        self._batch_size = batch_size

    async def run(self, items: AsyncIterable[ImportItem]) -> ImportReport:
        """Import ``items`` in order; raises the first bad item's error (its message names the
        item and how far the import got), after the items before it are written. Batch k+1 is
        extracted and embedded while batch k is written."""
        report = ImportReport()
        batch: list[ImportItem] = []
        seen: set[str] = set()
        queue = _Queue(self, report, seen)
        it = aiter(items)
        try:
            while True:
                index = report.received
                try:
                    item = await anext(it)
                    report.received += 1
                    self._check(item)
                except StopAsyncIteration:
                    break
                except RecalldError as exc:
                    await queue.put(batch)
                    await queue.drain()
                    raise _stopped(exc, index, getattr(exc, "source_id", ""), report) from None
                batch.append(item)
                if len(batch) >= self._batch_size:
                    await queue.put(batch)
                    batch = []
            await queue.put(batch)
            await queue.drain()
        finally:
            queue.cancel()
        if report.received == 0:
            raise InvalidArgument("the import stream had no items: send at least one ImportItem")
        return report

    def _check(self, item: ImportItem) -> None:
        try:
            if not _SOURCE_ID.match(item.source_id):
                raise InvalidArgument("source_id is required: 1-512 characters without control characters")
            self._pipeline.check_add(item.command())
        except RecalldError as exc:
            exc.source_id = item.source_id  # type: ignore[attr-defined]
            raise

    async def _prepare(self, batch: Sequence[ImportItem], seen: set[str]) -> _Prepared:
        """What a batch's writes need and the store's state does not change: which items are new
        (an episode id is only ever written by its own item), their facts and vectors."""
        ids = [episode_id_for(i.scope, i.source_id) for i in batch]
        fresh = [i for i in ids if i not in seen]
        seen.update(ids)
        existing = await self._pipeline.episodes_recorded(fresh) if fresh else set()
        todo: list[tuple[str, ImportItem]] = []
        taken: set[str] = set()
        for eid, item in zip(ids, batch, strict=True):
            if eid in fresh and eid not in existing and eid not in taken:
                todo.append((eid, item))
                taken.add(eid)
        skipped = len(batch) - len(todo)
        inferred = [i for _, i in todo if i.infer]
        extracted = iter(
            await self._pipeline.extract_many(
                [(i.messages, i.scope.speaker, i.reference_time or datetime.now(UTC)) for i in inferred]
            )
            if inferred
            else []
        )
        facts: list[list[Fact]] = [
            next(extracted)
            if i.infer
            else [Fact(text=m.content.strip(), speaker=m.name or i.scope.speaker) for m in i.messages]
            for _, i in todo
        ]
        texts = list(dict.fromkeys(f.text for fs in facts for f in fs))
        vectors = dict(zip(texts, np.asarray(await self._pipeline.embed(texts)), strict=True)) if texts else {}
        return _Prepared(todo, facts, vectors, skipped)

    async def _commit(self, prepared: _Prepared, report: ImportReport) -> None:
        """Write each new item of a batch through the Add path, in order, then index the batch."""
        report.skipped_duplicates += prepared.skipped
        if not prepared.todo:
            return
        for scope in {i.scope for _, i in prepared.todo}:
            await self._pipeline.check_quota(scope)
        twin, pending = self._pipeline.batched()
        try:
            for (_, item), item_facts in zip(prepared.todo, prepared.facts, strict=True):
                _, events = await twin.add_extracted(item.command(), item_facts, prepared.vectors)
                report.imported += 1
                report.memories_written += sum(e.event is EventKind.ADD for e in events)
        finally:
            await pending.flush()


@dataclass(slots=True)
class _Prepared:
    todo: list[tuple[str, ImportItem]]
    facts: list[list[Fact]]
    vectors: dict[str, np.ndarray]
    skipped: int


class _Queue:
    """Batches in flight: at most one prepared (or preparing) batch waits while one is written."""

    def __init__(self, importer: Importer, report: ImportReport, seen: set[str]) -> None:
        self._importer, self._report, self._seen = importer, report, seen
        self._next: asyncio.Future[_Prepared] | None = None

    async def put(self, batch: Sequence[ImportItem]) -> None:
        """Start preparing ``batch``, and write the batch before it meanwhile."""
        if not batch:
            return
        ahead = asyncio.ensure_future(self._importer._prepare(list(batch), self._seen))
        previous, self._next = self._next, ahead
        if previous is not None:
            await self._importer._commit(await previous, self._report)

    async def drain(self) -> None:
        previous, self._next = self._next, None
        if previous is not None:
            await self._importer._commit(await previous, self._report)

    def cancel(self) -> None:
        if self._next is not None:
            self._next.cancel()
            self._next = None


def _stopped(exc: RecalldError, index: int, source_id: str, report: ImportReport) -> RecalldError:
    """The same kind of error, naming the item and how far the import got."""
    where = f"item {index}" + (f" (source_id {source_id[:100]!r})" if source_id else "")
    message = (
        f"import stopped at {where}: {exc}. Before it: {report.progress()}; "
        "re-send the stream from the start to resume (imported items are skipped)"
    )
    try:
        return type(exc)(message)
    except TypeError:  # an error class with more to say (a rate limit): the nearest plain kind
        for cls in type(exc).__mro__[1:]:
            if issubclass(cls, RecalldError):
                try:
                    return cls(message)
                except TypeError:
                    continue
        return RecalldError(message)
