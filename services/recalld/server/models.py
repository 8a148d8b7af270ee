"""The offline models (spaCy and the MiniLM embedder) in a process of their own.

Every Search parses its query with spaCy and embeds it; every Add parses and embeds its facts.
In the server process that work shares one interpreter lock with everything else the process does
(gRPC, the stores' glue, walks, fusion), so two cores could not both run Python. Here the models
live in one worker process (a ``ProcessPoolExecutor`` of one, started with ``spawn``: no fork of a
process that runs gRPC threads), and the server sends it the texts and gets plain values back
(facts, a query analysis, vectors). Same code, same models, same results: only the process
differs. The server process no longer loads the models at all.

The worker exits with the server: a ``ProcessPoolExecutor`` worker stops when its call queue
closes, and a watchdog thread in the worker exits it when its parent is gone (SIGKILL included).
A worker that dies (the OOM killer, a crash) breaks the pool: the next call starts a new one and
is retried once; calls in flight when it died fail with UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any, TypeVar

import numpy as np

from recalld.kernel.domain import ChatMessage, Fact, QueryAnalysis
from recalld.kernel.errors import Unavailable
from recalld.kernel.ports import Vectors

log = logging.getLogger(__name__)
T = TypeVar("T")

MINILM_DIM = 384

# -- the worker --------------------------------------------------------------------------------------

_extractor: Any = None
_embedder: Any = None


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)  # the server is gone: nobody will read what this process computes


def _load(spacy_model: str, threads: int, parent: int) -> None:
    global _extractor, _embedder
    from recalld.extraction.spacy import SpacyExtractor
    from recalld.vector.embedders import MiniLMOnnxEmbedder

    # A terminal's ^C reaches the whole process group: the server drains its calls on SIGINT, and
    # the worker must go on serving them until the server closes the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _extractor = SpacyExtractor(model=spacy_model)
    _embedder = MiniLMOnnxEmbedder(threads=threads)


def _ready() -> int:
    _embedder.embed_sync(["warm up"])
    _extractor.analyze_query_sync("warm up", speaker="user")
    return os.getpid()


def _extract(messages: Sequence[ChatMessage], default_speaker: str) -> list[Fact]:
    return _extractor.extract_sync(messages, default_speaker=default_speaker)


def _extract_many(requests: Sequence[tuple[Sequence[ChatMessage], str]]) -> list[list[Fact]]:
    return _extractor.extract_many_sync(requests)


def _analyze(query: str, speaker: str) -> QueryAnalysis:
    return _extractor.analyze_query_sync(query, speaker=speaker)


def _embed(texts: Sequence[str]) -> Vectors:
    return _embedder.embed_sync(texts)


# -- the server side -----------------------------------------------------------------------------------


class ModelProcess:
    """The worker process and the calls into it."""

    def __init__(self, *, spacy_model: str, threads: int) -> None:
        self._args = (spacy_model, threads, os.getpid())
        self._pool: ProcessPoolExecutor | None = None
        self._lock = asyncio.Lock()
        self.pid: int | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_load, initargs=self._args
        )

    async def start(self) -> None:
        async with self._lock:
            if self._pool is None:
                self._pool = self._new_pool()
                self.pid = await asyncio.get_running_loop().run_in_executor(self._pool, _ready)
                log.info("models (spaCy, MiniLM) loaded in worker process pid %d", self.pid)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            await self.start()
        for attempt in (1, 2):
            pool = self._pool
            assert pool is not None
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
            except BrokenProcessPool as exc:
                async with self._lock:
                    if self._pool is pool:  # the first caller to notice replaces it
                        log.error("the model worker process (pid %s) died: starting a new one", self.pid)
                        pool.shutdown(wait=False, cancel_futures=True)
                        self._pool = None
                if attempt == 2:
                    raise Unavailable("the model worker process died; retry the call") from exc
                await self.start()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


def stop_resource_tracker() -> None:
    """Stop multiprocessing's resource tracker and wait for it: the helper process that ``spawn``
    starts beside the model worker (to unlink the pool's semaphores should the server die).

    Left alone it exits by itself when the server's end of its pipe closes, that is a moment
    *after* the server has exited, so whoever checks the process tree as the server exits (a
    supervisor, a test) finds a child that outlived its parent. Called once, last, when the server
    stops and nothing in it uses multiprocessing any more. CPython offers no public call for this;
    ``ResourceTracker._stop`` (3.8 and later) closes the pipe and reaps the process. Without it,
    the tracker still exits on its own."""
    from multiprocessing import resource_tracker

    stop = getattr(getattr(resource_tracker, "_resource_tracker", None), "_stop", None)
    if callable(stop):
        with contextlib.suppress(Exception):
            stop()


class ProcessExtractor:
    """The spaCy :class:`Extractor`, run in the model process."""

    def __init__(self, models: ModelProcess) -> None:
        self._models = models

    async def extract(
        self, messages: Sequence[ChatMessage], *, default_speaker: str, reference_time: datetime | None = None
    ) -> list[Fact]:
        return await self._models.call(_extract, list(messages), default_speaker)

    async def extract_many(self, requests: Sequence[tuple[Sequence[ChatMessage], str]]) -> list[list[Fact]]:
        return await self._models.call(_extract_many, [(list(m), s) for m, s in requests])

    async def analyze_query(self, query: str, *, speaker: str) -> QueryAnalysis:
        return await self._models.call(_analyze, query, speaker)


class ProcessEmbedder:
    """The MiniLM :class:`Embedder`, run in the model process."""

    def __init__(self, models: ModelProcess) -> None:
        self._models = models

    @property
    def dim(self) -> int:
        return MINILM_DIM

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, MINILM_DIM), dtype=np.float32)
        return await self._models.call(_embed, list(texts))
