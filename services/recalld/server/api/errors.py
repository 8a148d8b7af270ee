"""One table from domain errors to gRPC status codes, applied at the edge once."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from recalld.kernel.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RecalldError,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)

STATUS: dict[type[RecalldError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    Conflict: grpc.StatusCode.ABORTED,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
}

R = TypeVar("R")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]


_MAX_DETAIL = 500


def detail(exc: RecalldError) -> str:
    """The message a caller gets: the error's own, cut at ``_MAX_DETAIL`` characters (messages
    quote the offending input, which may be huge)."""
    text = str(exc)
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def status_for(exc: RecalldError) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return grpc.StatusCode.INTERNAL


def translated(fn: Handler[R]) -> Handler[R]:
    """Turn domain errors into their status; anything unexpected into INTERNAL."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await fn(self, request, context)
        except RecalldError as exc:
            await context.abort(status_for(exc), detail(exc))
        except Exception:
            log.exception("%s failed", fn.__qualname__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")
        raise AssertionError("unreachable: context.abort raises")

    return wrapper


StreamHandler = Callable[[Any, Any, grpc.aio.ServicerContext], AsyncIterator[R]]


def translated_stream(fn: StreamHandler[R]) -> StreamHandler[R]:
    """:func:`translated` for server-streaming handlers."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[R]:
        try:
            async for item in fn(self, request, context):
                yield item
        except RecalldError as exc:
            await context.abort(status_for(exc), detail(exc))
        except Exception:
            log.exception("%s failed", fn.__qualname__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")

    return wrapper
