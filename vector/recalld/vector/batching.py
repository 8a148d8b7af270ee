"""Micro-batching: the texts of concurrent embed calls go to the embedder as one call.

A busy server embeds many short texts at once (a query per Search, a few facts per Add). One
call per request pays the call's fixed cost every time (with the models in a worker process, a
round trip to it: pickling, a pipe, a wake-up on each side); merged, calls share it. What the
embedder does with a call's texts is its own business (the MiniLM one runs each text alone, so
a vector never depends on its company). The batcher never waits for company: a call that finds the model idle
goes at once, alone; calls that arrive while the model is busy queue, and the next model call
takes all of them (up to ``max_texts``). So an idle server's latency is unchanged, and a busy
one's batches grow with its load.

Results are exactly the caller's: each call gets its own rows, in its order. A failed model call
fails every call of its batch with the same exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from recalld.kernel.ports import Embedder, Vectors


class BatchingEmbedder:
    """An :class:`Embedder` that merges concurrent calls into one call of ``inner``."""

    def __init__(self, inner: Embedder, *, max_texts: int = 64) -> None:
        if max_texts < 1:
            raise ValueError("max_texts must be at least 1")
        self._inner = inner
        self._max = max_texts
        self._queue: list[tuple[Sequence[str], asyncio.Future[Vectors]]] = []
        self._running = False
        self.calls = 0  # model calls made (for tests and metrics)
        self.requests = 0  # embed calls served

    @property
    def dim(self) -> int:
        return self._inner.dim

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) >= self._max:  # a bulk call is a batch already
            self.calls += 1
            self.requests += 1
            return await self._inner.embed(texts)
        fut: asyncio.Future[Vectors] = asyncio.get_running_loop().create_future()
        self._queue.append((texts, fut))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch: list[tuple[Sequence[str], asyncio.Future[Vectors]]] = []
                size = 0
                while self._queue and (not batch or size + len(self._queue[0][0]) <= self._max):
                    item = self._queue.pop(0)
                    if item[1].cancelled():
                        continue
                    batch.append(item)
                    size += len(item[0])
                if not batch:
                    continue
                texts = [t for ts, _ in batch for t in ts]
                self.calls += 1
                self.requests += len(batch)
                try:
                    vectors = await self._inner.embed(texts)
                except BaseException as exc:  # every caller of the batch learns of it
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                    if not isinstance(exc, Exception):
                        raise
                    continue
                at = 0
                for ts, fut in batch:
                    if not fut.done():
                        fut.set_result(vectors[at : at + len(ts)])
                    at += len(ts)
        finally:
            self._running = False
            if self._queue:  # cancelled while items were queued: let the next caller restart it
                asyncio.get_running_loop().create_task(self._restart())

    async def _restart(self) -> None:
        if not self._running and self._queue:
            self._running = True
            await self._drain()
