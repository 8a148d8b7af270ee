"""Keeps the vector index consistent with the system of record (the graph store).

Write path: the graph store commits the memory with ``indexed = False``; then
:meth:`Indexer.sync` upserts the vector and marks that version indexed. A crash
between the two leaves the memory pending, and :meth:`Indexer.reconcile`
(run at start-up and periodically) finishes the work. Deletes are tombstones in
the graph store until the vector is gone. :meth:`verify` compares both sides;
:meth:`reindex` repairs whatever it finds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from graph.base import GraphStore
from services.domain import Memory
from vector.base import Embedder, VectorRecord, Vectors, VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    memories: int
    vectors: int
    missing_vectors: tuple[str, ...]
    orphan_vectors: tuple[str, ...]

    @property
    def consistent(self) -> bool:
        return not self.missing_vectors and not self.orphan_vectors


class Indexer:
    def __init__(self, *, graph: GraphStore, vector: VectorStore, embedder: Embedder, batch_size: int = 256) -> None:
        self._graph = graph
        self._vector = vector
        self._embedder = embedder
        self._batch = batch_size

    async def sync(self, memories: Sequence[Memory], vectors: Vectors | None = None) -> None:
        """Upsert the vectors of just-committed memories and mark them indexed."""
        if not memories:
            return
        if vectors is None:
            vectors = await self._embedder.embed([m.text for m in memories])
        await self._vector.upsert([_record(m, v) for m, v in zip(memories, vectors, strict=True)])
        await self._graph.mark_indexed({m.id: m.version for m in memories})

    async def drop(self, done: dict[str, int]) -> None:
        """Remove the vectors of tombstoned memories (id -> tombstone version)."""
        if not done:
            return
        await self._vector.delete(list(done))
        await self._graph.mark_indexed(done)

    async def reconcile(self) -> tuple[int, int]:
        """Finish every pending index operation. Returns (upserted, deleted)."""
        upserted = deleted = 0
        while True:
            pending = await self._graph.pending_index(self._batch)
            if not pending.upserts and not pending.deletes:
                break
            if pending.upserts:
                mems = [m for m, _ in pending.upserts]
                await self.sync(mems)
                upserted += len(mems)
            if pending.deletes:
                await self.drop(dict(pending.deletes))
                deleted += len(pending.deletes)
        if upserted or deleted:
            log.info("reconciled vector index: %d upserted, %d deleted", upserted, deleted)
        return upserted, deleted

    async def verify(self) -> VerifyReport:
        state = await self._graph.index_state()
        vectors = await self._vector.all_ids()
        active = {i for i, a in state.items() if a}
        return VerifyReport(
            memories=len(active),
            vectors=len(vectors),
            missing_vectors=tuple(sorted(active - vectors)),
            orphan_vectors=tuple(sorted(vectors - active)),
        )

    async def reindex(self, *, full: bool = False) -> tuple[int, int]:
        """Repair drift (or re-embed everything when ``full``). Returns (upserted, deleted)."""
        await self.reconcile()
        report = await self.verify()
        to_embed = list(report.missing_vectors)
        if full:
            to_embed = sorted((await self._graph.index_state()).keys())
        upserted = 0
        for i in range(0, len(to_embed), self._batch):
            chunk = to_embed[i : i + self._batch]
            mems = await self._graph.get_all(chunk)
            await self.sync(mems)
            upserted += len(mems)
        if report.orphan_vectors:
            await self._vector.delete(list(report.orphan_vectors))
        return upserted, len(report.orphan_vectors)


def _record(m: Memory, vector: Sequence[float]) -> VectorRecord:
    return VectorRecord(id=m.id, vector=vector, scope=m.scope, reference_time=m.reference_time, metadata=m.metadata)
