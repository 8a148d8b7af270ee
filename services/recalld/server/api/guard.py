"""Who may call what: one interceptor in front of every servicer that composes the four checks of
a call, each in its own module:

- :mod:`~recalld.server.api.authn`: who is calling (API key, JWT, bootstrap key; UNAUTHENTICATED);
- :mod:`~recalld.server.api.authz`: the role each RPC declares in the proto, tenant-wide RPCs and
  the request's scope (PERMISSION_DENIED);
- :mod:`~recalld.server.api.limits`: a token bucket per tenant (RESOURCE_EXHAUSTED, with a
  ``retry-after-ms`` trailing hint);
- :mod:`~recalld.server.api.audit`: one JSON line per call on the ``recalld.audit`` logger.

Health needs no credential. A request that does not decode is answered INVALID_ARGUMENT. During
the call the principal is in :data:`~recalld.server.api.authn.principal_var` and the request's
scope, parsed once, is held for the converters (:func:`~recalld.server.api.authz.parsed_scope`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from recalld.kernel.domain import Principal, Scope
from recalld.kernel.errors import InvalidArgument, RecalldError
from recalld.server.api.audit import AuditLog
from recalld.server.api.authn import ANONYMOUS, NOBODY, Authenticator, principal_var
from recalld.server.api.authz import OPEN, authorize, hold_scope, release_scope, request_scope
from recalld.server.api.errors import detail, status_for
from recalld.server.api.interceptor import rewrap
from recalld.server.api.limits import RateLimited, RateLimiter
from recalld.server.config import Settings


class GuardInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, settings: Settings, authenticator: Authenticator | None, limiter: RateLimiter) -> None:
        self._auth = authenticator  # None: authentication off
        self._limiter = limiter
        self._audit = AuditLog(enabled=settings.audit_log != "off")

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(OPEN):
            return handler
        return rewrap(
            handler,
            unary=partial(self._unary, method),
            stream=partial(self._unary_stream, method),
            bidi=partial(self._stream_stream, method),  # reflection
            client_stream=partial(self._stream_unary, method),  # Import: authorized per item as read
            decode=_tolerant,
        )

    async def _admit(
        self, method: str, request: Any, context: grpc.aio.ServicerContext
    ) -> tuple[Principal, Scope | None]:
        """Authenticate, authorize and rate-limit; on refusal abort with the status (and audit it).
        Returns the principal and the request's scope (parsed here, once)."""
        if isinstance(request, Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the request is not a valid {request.kind} message")
        scope = request_scope(request) if request is not None else None
        principal = ANONYMOUS if self._auth is None else NOBODY
        try:
            if self._auth is not None:
                principal = await self._auth.authenticate(context.invocation_metadata() or ())
            authorize(principal, method, scope)
            self._limiter.admit(principal.tenant)
        except RecalldError as exc:
            code = status_for(exc)
            self._audit.record(principal, method, code, scope=scope, request=request)
            trailing = exc.trailing_metadata if isinstance(exc, RateLimited) else ()
            await context.abort(code, detail(exc), trailing_metadata=trailing)
        return principal, scope

    def _unary(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            principal, scope = await self._admit(method, request, context)
            response = None
            with _serving(principal, request, scope):
                try:
                    response = await behavior(request, context)
                    return response
                finally:
                    self._audit.record(
                        principal, method, _code(context), scope=scope, request=request, response=response
                    )

        return wrapper

    def _unary_stream(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            principal, scope = await self._admit(method, request, context)
            with _serving(principal, request, scope):
                try:
                    async for item in behavior(request, context):
                        yield item
                finally:
                    self._audit.record(principal, method, _code(context), scope=scope, request=request)

        return wrapper

    def _stream_unary(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """A client stream (Import): the credential and its role are checked when the call opens;
        each request message then costs a rate-limit token and each of its items' scopes must
        be inside the credential's users and agents (else the stream stops with
        PERMISSION_DENIED, raised where the servicer reads the item)."""

        async def wrapper(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            principal, _ = await self._admit(method, None, context)
            with _serving(principal, None, None):
                try:
                    return await behavior(self._checked(method, principal, requests), context)
                finally:
                    self._audit.record(principal, method, _code(context), scope=None)

        return wrapper

    async def _checked(self, method: str, principal: Principal, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """The requests of a client stream, each rate-limited (but the first, paid for when the
        call opened) and each of its items authorized on its own scope."""
        first = True
        async for request in requests:
            if isinstance(request, Undecodable):
                raise InvalidArgument(f"a request of the stream is not a valid {request.kind} message")
            if not first:
                self._limiter.admit(principal.tenant)
            first = False
            items = list(getattr(request, "items", ()))
            for n, item in enumerate(items):
                try:
                    authorize(principal, method, request_scope(item))
                except RecalldError:
                    if n:  # the items before the refused one go ahead, as in their own request
                        yield type(request)(items=items[:n])
                    raise
            yield request

    def _stream_stream(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            principal, _ = await self._admit(method, None, context)
            with _serving(principal, None, None):
                async for item in behavior(requests, context):
                    yield item

        return wrapper


@contextlib.contextmanager
def _serving(principal: Principal, request: Any, scope: Scope | None) -> Iterator[None]:
    """The principal, and the request's parsed scope, visible to the servicer while it serves the
    call."""
    principal_token = principal_var.set(principal)
    scope_token = hold_scope(request, scope)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # a generator finished in another context
            release_scope(scope_token)
        with contextlib.suppress(ValueError):
            principal_var.reset(principal_token)


@dataclass(frozen=True)
class Undecodable:
    """What a request that does not parse becomes, so that it is answered INVALID_ARGUMENT (not
    UNKNOWN with a traceback in the log for every garbage request)."""

    kind: str


def _tolerant(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    kind = getattr(deserialize, "__qualname__", "request").split(".")[0]

    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError:
            return Undecodable(kind)

    return decode


def _code(context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        for c in grpc.StatusCode:
            if c.value[0] == code:
                return c
    return grpc.StatusCode.OK
