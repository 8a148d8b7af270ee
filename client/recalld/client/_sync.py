"""The blocking client: a thin wrapper that runs :class:`AsyncRecalld` on a private event loop."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

from recalld.client._async import AsyncRecalld
from recalld.client._types import Memory

P = ParamSpec("P")
R = TypeVar("R")


def _blocking(
    fn: Callable[Concatenate[AsyncRecalld, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Recalld, P], R]:
    @functools.wraps(fn)
    def call(self: Recalld, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run(fn(self._client, *args, **kwargs))

    return call


class Recalld:
    """A recalld server, from ordinary (blocking) code::

        with Recalld("127.0.0.1:50051") as memory:
            memory.add("My cat Luna caught a cold.", user_id="alice")
            for hit in memory.search("how is my pet?", user_id="alice"):
                print(hit.score, hit.memory.text)

    Same constructor arguments, verbs, deadlines, retries and exceptions as
    :class:`AsyncRecalld`, which does the work on a private event loop thread. Safe to share
    between threads.
    """

    def __init__(self, address: str = "127.0.0.1:50051", **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="recalld-client", daemon=True)
        self._thread.start()

        async def make() -> AsyncRecalld:  # the channel belongs to the loop it is created on
            return AsyncRecalld(address, **options)

        try:
            self._client = self._run(make())
        except BaseException:
            self._stop()
            raise

    def _run(self, coro: Coroutine[Any, Any, R]) -> R:
        if threading.current_thread() is self._thread:
            raise RuntimeError("Recalld is blocking; from a coroutine use AsyncRecalld")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._client.close())
        self._stop()

    def __enter__(self) -> Recalld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    add = _blocking(AsyncRecalld.add)
    search = _blocking(AsyncRecalld.search)
    get = _blocking(AsyncRecalld.get)
    list = _blocking(AsyncRecalld.list)
    update = _blocking(AsyncRecalld.update)
    delete = _blocking(AsyncRecalld.delete)
    delete_all = _blocking(AsyncRecalld.delete_all)
    history = _blocking(AsyncRecalld.history)
    subgraph = _blocking(AsyncRecalld.subgraph)
    paths = _blocking(AsyncRecalld.paths)
    verify = _blocking(AsyncRecalld.verify)
    reindex = _blocking(AsyncRecalld.reindex)

    def iterate(self, **kwargs: Any) -> Iterator[Memory]:
        """Every memory of a scope, newest first, fetched page by page (see AsyncRecalld.iterate)."""
        pages = self._client.iterate(**kwargs)

        async def step() -> Memory:
            return await anext(pages)

        while True:
            try:
                yield self._run(step())
            except StopAsyncIteration:
                return
