"""The blocking client: a thin wrapper that runs :class:`AsyncRecalld` on a private event loop.

Each verb submits the asyncio client's coroutine to a loop running in a daemon thread
(``asyncio.run_coroutine_threadsafe``) and waits for it; there is no second implementation.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import grpc

from recalld.client import _convert as conv
from recalld.client._async import DEFAULT_ADDRESS, DEFAULT_TIMEOUT, AsyncRecalld
from recalld.client._types import DEFAULT_RETRY, Memory, Operation, RetryPolicy

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def _blocking(
    fn: Callable[Concatenate[AsyncRecalld, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[Recalld, P], R]:
    """The blocking twin of an AsyncRecalld verb: same parameters, same docstring."""

    def call(self: Recalld, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run(fn(self._client, *args, **kwargs))

    functools.update_wrapper(call, fn)
    return call


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


class Recalld:
    """A recalld server, from ordinary (blocking) code::

        with Recalld("127.0.0.1:50051") as memory:
            memory.add("My cat Luna caught a cold.", user_id="alice")
            for hit in memory.search("how is my pet?", user_id="alice"):
                print(hit.score, hit.memory.text)

    Same constructor arguments (except ``channel``: an asyncio channel belongs to its own loop),
    verbs, deadlines, retries and exceptions as :class:`AsyncRecalld`, which does the work on a
    private event loop thread; its async iterators (iterate, watch_operations) are blocking
    iterators here. Safe to share between threads; call :meth:`close` (or use
    ``with``) to stop the thread.
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        call_credentials: grpc.CallCredentials | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        api_key: str = "",
        timeout: float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=_serve, args=(self._loop,), name="recalld-client", daemon=True)
        self._thread.start()

        async def make() -> AsyncRecalld:  # the channel belongs to the loop it is created on
            return AsyncRecalld(
                address,
                credentials=credentials,
                call_credentials=call_credentials,
                metadata=metadata,
                api_key=api_key,
                timeout=timeout,
                retry=retry,
                options=options,
            )

        try:
            self._client = self._run(make())
        except BaseException:
            self._stop()
            raise

    def _run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run a coroutine on the client's loop and wait for its result (or exception)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("Recalld is blocking; from a coroutine use AsyncRecalld")
        if self._loop.is_closed():
            coro.close()
            raise RuntimeError("the client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt while waiting: do not leave the call running
            raise

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def close(self) -> None:
        """Close the channel and stop the loop thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._run(self._client.close())
        finally:
            self._stop()

    def __enter__(self) -> Recalld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    add = _blocking(AsyncRecalld.add)
    import_items = _blocking(AsyncRecalld.import_items)
    search = _blocking(AsyncRecalld.search)
    get = _blocking(AsyncRecalld.get)
    list = _blocking(AsyncRecalld.list)
    update = _blocking(AsyncRecalld.update)
    delete = _blocking(AsyncRecalld.delete)
    delete_all = _blocking(AsyncRecalld.delete_all)
    history = _blocking(AsyncRecalld.history)
    get_operation = _blocking(AsyncRecalld.get_operation)
    wait_operations = _blocking(AsyncRecalld.wait_operations)
    profile = _blocking(AsyncRecalld.profile)
    mark_used = _blocking(AsyncRecalld.mark_used)
    grant_access = _blocking(AsyncRecalld.grant_access)
    revoke_access = _blocking(AsyncRecalld.revoke_access)
    list_grants = _blocking(AsyncRecalld.list_grants)
    subgraph = _blocking(AsyncRecalld.subgraph)
    paths = _blocking(AsyncRecalld.paths)
    verify = _blocking(AsyncRecalld.verify)
    reindex = _blocking(AsyncRecalld.reindex)
    create_api_key = _blocking(AsyncRecalld.create_api_key)
    list_api_keys = _blocking(AsyncRecalld.list_api_keys)
    revoke_api_key = _blocking(AsyncRecalld.revoke_api_key)
    erase = _blocking(AsyncRecalld.erase)

    def iterate(
        self,
        *,
        user_id: str = "",
        agent_id: str = "",
        run_id: str = "",
        filters: conv.Filters = None,
        page_size: int = 100,
        timeout: float | None = None,
    ) -> Iterator[Memory]:
        """Every memory of a scope, newest first, fetched page by page as the loop goes
        (``timeout`` applies to each page); the scope and filters are checked at once."""
        pages = self._client.iterate(
            user_id=user_id, agent_id=agent_id, run_id=run_id, filters=filters, page_size=page_size, timeout=timeout
        )
        return self._drain(pages)

    def watch_operations(self, operation_ids: Sequence[str], *, timeout: float | None = None) -> Iterator[Operation]:
        """Follow asynchronous adds (1..100 ids): each operation as it is now, then again at every
        status change; the iteration ends when all are done. ``timeout`` is the deadline of the
        whole stream; it is not retried. The ids are checked at once."""
        return self._drain(self._client.watch_operations(operation_ids, timeout=timeout))

    def _drain(self, items: AsyncIterator[T]) -> Iterator[T]:
        """An async iterator of the client's loop as a blocking iterator: each item is fetched on
        the loop as the loop here asks for it."""

        async def step() -> tuple[bool, T | None]:
            try:
                return True, await anext(items)
            except StopAsyncIteration:
                return False, None

        async def stop() -> None:
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await aclose()

        finished = False
        try:
            while True:
                more, item = self._run(step())
                if not more:
                    finished = True
                    return
                yield cast(T, item)
        finally:
            # Left early (break, exception, garbage collection): end the async generator on its loop,
            # without waiting (this may run on any thread, even the loop's).
            if not finished and not self._loop.is_closed():
                asyncio.run_coroutine_threadsafe(stop(), self._loop)
