"""Admission control: a bounded number of RPCs run at once, a bounded number wait, the rest are
refused at once with RESOURCE_EXHAUSTED.

Why both bounds. The server is one asyncio loop: without a bound every arriving call starts at
once and they all interleave, so under 32 clients each Search takes 32 times its own time and
they all finish late together. With ``RECALLD_MAX_CONCURRENT_RPCS`` calls running (enough to keep
the stores, the embedder's threads and the loop busy) and the rest waiting in arrival order, the
same throughput comes with a shorter median; and past ``RECALLD_MAX_QUEUED_RPCS`` waiting calls a
client learns in a millisecond that the server is saturated (and can back off or go to another
replica) instead of after seconds of queueing.

Health checks, reflection and WatchOperations streams (long-lived, mostly idle) are never
queued or refused: a probe must not fail because the server is busy.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import grpc

from recalld.server.api.interceptor import rewrap
from recalld.server.metrics import Metrics

_EXEMPT = ("/grpc.health.v1.Health/", "/grpc.reflection.", "/recalld.v1.MemoryService/WatchOperations")


class Busy(Exception):
    """Every slot is taken and the waiting line is full."""


class Gate:
    """At most ``running`` holders at once, at most ``queued`` waiting in arrival order (FIFO)."""

    def __init__(self, running: int, queued: int) -> None:
        if running < 1 or queued < 0:
            raise ValueError("running must be >= 1 and queued >= 0")
        self.running_limit, self.queued_limit = running, queued
        self.running = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        if self.running < self.running_limit and not self._waiters:
            self.running += 1
            return
        if len(self._waiters) >= self.queued_limit:
            raise Busy
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # release() hands its slot over: running stays counted
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot came as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.running -= 1


class AdmissionInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, running: int, queued: int, metrics: Metrics) -> None:
        self.gate = Gate(running, queued)
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(_EXEMPT):
            return handler
        return rewrap(
            handler,
            unary=partial(self._unary, details.method),
            stream=partial(self._stream, details.method),
            client_stream=partial(self._unary, details.method),
        )

    async def _enter(self, method: str, context: grpc.aio.ServicerContext) -> None:
        self._metrics.rpc_queued.set(self.gate.queued + 1)
        try:
            await self.gate.acquire()
        except Busy:
            self._metrics.rpc_rejected.labels(method).inc()
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"server busy: {self.gate.running} calls running and {self.gate.queued} waiting "
                f"(RECALLD_MAX_CONCURRENT_RPCS={self.gate.running_limit}, "
                f"RECALLD_MAX_QUEUED_RPCS={self.gate.queued_limit}); retry with backoff or another replica",
            )
        finally:
            self._metrics.rpc_queued.set(self.gate.queued)

    def _unary(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await self._enter(method, context)
            try:
                return await behavior(request, context)
            finally:
                self.gate.release()

        return wrapper

    def _stream(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await self._enter(method, context)
            try:
                async for item in behavior(request, context):
                    yield item
            finally:
                self.gate.release()

        return wrapper
