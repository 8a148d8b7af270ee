"""Keeps the vector index consistent with the system of record (the graph store).

Write path: the graph store commits the memory with ``indexed = False``; then
:meth:`Indexer.sync` upserts the vector and marks that version indexed. A crash
between the two leaves the memory pending, and :meth:`Indexer.reconcile`
(run at start-up and periodically) finishes the work. Deletes are tombstones in
the graph store until the vector is gone. :meth:`verify` compares both sides;
:meth:`reindex` repairs whatever it finds.

Races: two writes to one memory (an Update and a Delete, say) index concurrently, and their
vector operations can reach the vector store in either order, from this replica or from
another. Versions settle it: a memory's version grows with every write and a mark names one
version, so the graph store refuses the mark of a write that is no longer the latest
(:meth:`IndexLedger.mark_indexed` returns it as stale). The writer of a stale operation then
applies the memory's *current* state to the vector index (upsert it, or delete the vector of a
tombstone) and marks that, until a mark holds. Whichever operation reaches the vector store
last is therefore followed by one that writes the current state. A process killed in that
window leaves a stale vector behind; :meth:`sweep` (start-up and periodic) removes vectors
whose memory is not active and re-indexes memories that lack one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from recalld.kernel.domain import Memory
from recalld.kernel.ports import Embedder, GraphDrift, IndexLedger, MemoryReads, VectorRecord, Vectors, VectorStore

log = logging.getLogger(__name__)


_NO_DRIFT = GraphDrift(0, 0)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    memories: int
    vectors: int
    missing_vectors: tuple[str, ...]
    orphan_vectors: tuple[str, ...]
    graph: GraphDrift = _NO_DRIFT

    @property
    def consistent(self) -> bool:
        return (
            not self.missing_vectors
            and not self.orphan_vectors
            and not self.graph.orphan_relations
            and not self.graph.orphan_entities
        )


class IndexedGraph(IndexLedger, MemoryReads, Protocol):
    """The graph store as the indexer uses it: its index ledger, and the memories to embed."""


class Indexer:
    def __init__(self, *, graph: IndexedGraph, vector: VectorStore, embedder: Embedder, batch_size: int = 256) -> None:
        self._graph = graph
        self._vector = vector
        self._embedder = embedder
        self._batch = batch_size

    async def sync(self, memories: Sequence[Memory], vectors: Vectors | None = None) -> None:
        """Upsert the vectors of just-committed memories and mark them indexed."""
        if memories:
            await self._converge(await self._write(memories, {}, vectors))

    async def drop(self, done: dict[str, int]) -> None:
        """Remove the vectors of tombstoned memories (id -> tombstone version)."""
        if done:
            await self._converge(await self._write((), done))

    async def _write(
        self, upserts: Sequence[Memory], deletes: Mapping[str, int], vectors: Vectors | None = None
    ) -> set[str]:
        """Apply upserts and deletes to the vector index and mark those versions indexed; returns
        the ids whose version moved on meanwhile (their vector may be stale)."""
        stale: set[str] = set()
        if upserts:
            if vectors is None:
                vectors = await self._embedder.embed([m.text for m in upserts])
            await self._vector.upsert([_record(m, v) for m, v in zip(upserts, vectors, strict=True)])
            stale |= await self._graph.mark_indexed({m.id: m.version for m in upserts})
        if deletes:
            await self._vector.delete(list(deletes))
            stale |= await self._graph.mark_indexed(deletes)
        return stale

    async def _converge(self, ids: set[str], attempts: int = 8) -> None:
        """Our vector write may have landed after a later one: write the current state again."""
        for _ in range(attempts):
            if not ids:
                return
            targets = await self._graph.index_targets(sorted(ids))
            ids = await self._write([m for m, _ in targets.upserts], dict(targets.deletes))
        if ids:
            log.warning("%d memories still changing after %d index attempts; left to the sweep", len(ids), attempts)

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

    async def sweep(self) -> tuple[int, int]:
        """Compare both sides in full and repair: vectors of memories that are not active are
        deleted, active memories without a vector are indexed. Converges what a process killed
        between a vector write and its mark leaves (run :meth:`reconcile` first: pending work is
        not drift). Returns (upserted, deleted) by the repair."""
        # The vector comparison only: graph drift (orphan relations and entities) is reported by
        # Verify, not repaired here, and finding it scans every relation of the store.
        missing, orphan_vectors, _, _ = await self._compare()
        upserted = 0
        for i in range(0, len(missing), self._batch):
            mems = await self._graph.get_all(missing[i : i + self._batch])
            await self.sync(mems)
            upserted += len(mems)
        orphans = list(orphan_vectors)
        if orphans:
            # Re-check against the record: a memory may have been added since verify read it.
            targets = await self._graph.index_targets(orphans)
            live = {m.id for m, _ in targets.upserts}
            doomed = [i for i in orphans if i not in live]
            await self._vector.delete(doomed)
            orphans = doomed
        if upserted or orphans:
            log.warning(
                "sweep repaired the vector index: %d upserted, %d orphan vectors deleted", upserted, len(orphans)
            )
        return upserted, len(orphans)

    async def _compare(self) -> tuple[tuple[str, ...], tuple[str, ...], int, int]:
        """(active memories without a vector, vectors without an active memory, active
        memories, vectors). Vectors are read first: a memory committed after this read has no
        vector in it, so it cannot look like an orphan (it may look missing while its Add is in
        flight)."""
        vectors = await self._vector.all_ids()
        state = await self._graph.index_state()
        active = {i for i, a in state.items() if a}
        return tuple(sorted(active - vectors)), tuple(sorted(vectors - active)), len(active), len(vectors)

    async def verify(self) -> VerifyReport:
        missing, orphans, memories, vectors = await self._compare()
        return VerifyReport(
            memories=memories,
            vectors=vectors,
            missing_vectors=missing,
            orphan_vectors=orphans,
            graph=await self._graph.graph_drift(),
        )

    async def reindex(self, *, full: bool = False) -> tuple[int, int]:
        """Repair drift (or re-embed everything when ``full``). Returns (upserted, deleted)."""
        await self.reconcile()
        upserted, deleted = await self.sweep()
        if full:
            active = sorted(i for i, a in (await self._graph.index_state()).items() if a)
            for i in range(0, len(active), self._batch):
                mems = await self._graph.get_all(active[i : i + self._batch])
                await self.sync(mems)
                upserted += len(mems)
        return upserted, deleted


def _record(m: Memory, vector: Sequence[float]) -> VectorRecord:
    return VectorRecord(
        id=m.id,
        vector=vector,
        scope=m.scope,
        reference_time=m.reference_time,
        metadata=m.metadata,
        valid_from=m.valid_from,
        valid_to=m.valid_to,
    )
