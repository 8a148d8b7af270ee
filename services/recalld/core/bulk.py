"""The vector side of a bulk import's batch (recalld.core.importer): the memories each item
commits wait here (latest version per id) until :meth:`PendingIndex.flush` indexes them all in
one upsert; meanwhile reconciliation searches see them as a sequence of Adds would (brute-force
cosine over the pending ones, merged with the store's hits).

A pipeline writes into it through its public constructor (``MemoryPipeline.batched``): it is
the pipeline's index sink and its neighbour search.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from recalld.core.add_writer import IndexSink
from recalld.kernel.domain import CURRENT, Memory, Scope, Validity
from recalld.kernel.ports import Embedder, NeighbourSearch, VectorHit, Vectors

log = logging.getLogger(__name__)


class PendingIndex:
    def __init__(self, *, sink: IndexSink, neighbours: NeighbourSearch, embedder: Embedder) -> None:
        """``sink``: where :meth:`flush` writes (the Indexer); ``neighbours``: the vector store's
        search, merged with the pending memories."""
        self._sink = sink
        self._neighbours = neighbours
        self._embedder = embedder
        self._pending: dict[str, tuple[Memory, np.ndarray]] = {}

    async def sync(self, memories: Sequence[Memory], vectors: Vectors | None = None) -> None:
        """Keep ``memories`` for the batch's one write (the IndexSink face)."""
        if vectors is None:
            vectors = await self._embedder.embed([m.text for m in memories])
        for m, v in zip(memories, vectors, strict=True):
            self._pending[m.id] = (m, np.asarray(v, dtype=np.float32))

    async def search_many(
        self,
        vectors: Vectors | Sequence[Sequence[float]],
        scope: Scope,
        limit: int,
        validity: Validity = CURRENT,
        *,
        may_lag: bool = False,
    ) -> list[list[VectorHit]]:
        """The store's neighbours merged with the pending memories' (the NeighbourSearch face)."""
        found = await self._neighbours.search_many(vectors, scope, limit, validity, may_lag=may_lag)
        mine = [
            (m, v)
            for m, v in self._pending.values()
            if m.current and all(getattr(m.scope, k) == val for k, val in scope.items())
        ]
        if not mine:
            return found
        ids = [m.id for m, _ in mine]
        matrix = np.stack([v for _, v in mine])
        scores = np.asarray(vectors, dtype=np.float32) @ matrix.T
        out: list[list[VectorHit]] = []
        for hits, row in zip(found, scores, strict=True):
            # the pending version of a memory wins over the store's older one
            merged = {h.id: h for h in hits if h.id not in self._pending}
            merged.update((i, VectorHit(i, float(s))) for i, s in zip(ids, row, strict=True))
            out.append(sorted(merged.values(), key=lambda h: -h.score)[:limit])
        return out

    async def flush(self) -> int:
        """Index every pending memory (one vector upsert, one mark); failures are left to the
        reconciler like any Add's. Returns how many were written."""
        if not self._pending:
            return 0
        memories = [m for m, _ in self._pending.values()]
        vectors = np.stack([v for _, v in self._pending.values()])
        self._pending = {}
        try:
            await self._sink.sync(memories, vectors)
        except Exception:
            log.exception("vector index sync failed for %d imported memories; left for the reconciler", len(memories))
        return len(memories)
