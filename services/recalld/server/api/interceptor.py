"""One interceptor around every RPC: request id, a server span, metrics and an access line.

- Request id: the caller's ``x-request-id`` metadata when it is a short printable token, else a new
  one; it is in every log line written while the call is served and is sent back as initial
  metadata.
- Span: ``/recalld.v1.MemoryService/Search`` (kind SERVER), its parent the W3C trace context of the
  call's metadata (``traceparent``); the store, embedder and extractor spans are its children.
- Metrics: count and latency by method and status code, and the calls in flight.
- Access log: ``recalld.rpc`` at info (debug for health checks): method, status, milliseconds.
  Never request content.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from recalld.server.logs import request_id
from recalld.server.metrics import Metrics

log = logging.getLogger("recalld.rpc")
_tracer = trace.get_tracer("recalld")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_HEALTH = "/grpc.health.v1.Health/"


def _code_of(context: grpc.aio.ServicerContext, exc: BaseException | None) -> grpc.StatusCode:
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # some grpc versions keep the raw number once set
        for c in grpc.StatusCode:
            if c.value[0] == code:
                return c
    return grpc.StatusCode.UNKNOWN if exc is not None else grpc.StatusCode.OK


class _Call:
    """The bookkeeping of one RPC, shared by the unary and the streaming wrappers."""

    def __init__(self, metrics: Metrics, method: str, context: grpc.aio.ServicerContext) -> None:
        self.metrics, self.method, self.context = metrics, method, context
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        given = metadata.get("x-request-id", "")
        self.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        self.parent = propagate.extract(metadata)
        self.t0 = time.perf_counter()

    def finish(self, span: trace.Span, exc: BaseException | None) -> None:
        code = _code_of(self.context, exc)
        seconds = time.perf_counter() - self.t0
        self.metrics.rpc_requests.labels(self.method, code.name).inc()
        self.metrics.rpc_seconds.labels(self.method, code.name).observe(seconds)
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code is not grpc.StatusCode.OK:
            span.set_status(Status(StatusCode.ERROR, code.name))
        level = logging.DEBUG if self.method.startswith(_HEALTH) else logging.INFO
        log.log(level, "%s %s %.1fms", self.method, code.name, seconds * 1000)


Wrap = Callable[[Callable[..., Any]], Callable[..., Any]]


def rewrap(
    handler: grpc.RpcMethodHandler,
    *,
    unary: Wrap,
    stream: Wrap,
    bidi: Wrap | None = None,
    client_stream: Wrap | None = None,
    decode: Wrap | None = None,
) -> grpc.RpcMethodHandler:
    """``handler`` with its behaviour wrapped: ``unary`` for unary-unary methods, ``stream`` for
    unary-stream ones written as async generators, ``bidi`` (if given) for stream-stream ones,
    ``client_stream`` (if given) for stream-unary ones (called like a unary behaviour, with the
    request iterator in place of the request); any other handler (health Watch writes through its
    context) is returned as it is. ``decode`` wraps the request deserializer."""
    deserializer = handler.request_deserializer
    if decode is not None and deserializer is not None:
        deserializer = decode(deserializer)
    codec = {"request_deserializer": deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary), **codec)
    if handler.unary_stream is not None and inspect.isasyncgenfunction(handler.unary_stream):
        return grpc.unary_stream_rpc_method_handler(stream(handler.unary_stream), **codec)
    if client_stream is not None and handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(client_stream(handler.stream_unary), **codec)
    if bidi is not None and handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(bidi(handler.stream_stream), **codec)
    return handler


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        return rewrap(
            handler,
            unary=partial(self._unary, details.method),
            stream=partial(self._stream, details.method),
            client_stream=partial(self._unary, details.method),  # Import: the stream is one call
        )

    def _span(self, call: _Call) -> Any:
        service, _, name = call.method.lstrip("/").partition("/")
        return _tracer.start_as_current_span(
            call.method,
            context=call.parent,
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name,
                        "recalld.request_id": call.request_id},
        )  # fmt: skip

    @contextlib.asynccontextmanager
    async def _observed(self, method: str, context: grpc.aio.ServicerContext, *, announce: bool) -> AsyncIterator[None]:
        """The bookkeeping around one call, unary or streaming: request id, span, metrics, log."""
        call = _Call(self._metrics, method, context)
        token = request_id.set(call.request_id)
        self._metrics.rpc_in_flight.inc()
        try:
            if announce:
                await context.send_initial_metadata((("x-request-id", call.request_id),))
            with self._span(call) as span:
                failure: BaseException | None = None
                try:
                    yield
                except BaseException as exc:
                    failure = exc
                    raise
                finally:
                    call.finish(span, failure)
        finally:
            self._metrics.rpc_in_flight.dec()
            with contextlib.suppress(ValueError):  # a generator finished in another context
                request_id.reset(token)

    def _unary(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        announce = not method.startswith(_HEALTH)

        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with self._observed(method, context, announce=announce):
                return await behavior(request, context)

        return wrapper

    def _stream(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with self._observed(method, context, announce=True):
                async for item in behavior(request, context):
                    yield item

        return wrapper
