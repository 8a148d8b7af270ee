"""Who may call what: authentication, authorization, per-tenant rate limits and the audit log, in
one interceptor in front of every servicer.

- Authentication (every RPC but health): an API key (``authorization: Bearer rk_...`` or
  ``x-api-key``), a JWT bearer token from a trusted issuer, or the bootstrap key. Missing or bad:
  UNAUTHENTICATED. With authentication off (``RECALLD_AUTH=off``, or ``auto`` on loopback) every
  caller is an admin of the default tenant.
- Authorization: each RPC needs a role (:data:`ROLES`; an RPC missing from the table needs
  admin); a request's scope must stay inside the credential's users and agents. Outside:
  PERMISSION_DENIED. The tenant is the credential's: the servicers only ever open that tenant's
  stores.
- Rate: a token bucket per tenant (``RECALLD_TENANT_RATE[S]``); empty: RESOURCE_EXHAUSTED naming
  the limit, with a retry hint (also as ``retry-after-ms`` trailing metadata).
- Audit: one JSON line per call on the ``recalld.audit`` logger: tenant, principal, method, scope,
  memory ids, status, request id. Never content.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from recalld.kernel.domain import DEFAULT_TENANT, ApiKey, Principal, Role, Scope
from recalld.kernel.errors import InvalidArgument, PermissionDenied, RecalldError, ResourceExhausted, Unauthenticated
from recalld.kernel.ports import CredentialStore
from recalld.server.api.errors import detail, status_for
from recalld.server.api.interceptor import rewrap
from recalld.server.auth import JwtVerifier, bearer_token, hash_secret, parse_api_key, secret_matches
from recalld.server.config import Settings

audit_log = logging.getLogger("recalld.audit")
log = logging.getLogger(__name__)

ANONYMOUS = Principal(tenant=DEFAULT_TENANT, name="anonymous", role=Role.ADMIN, method="none")  # auth off
_NOBODY = Principal(tenant="", name="unauthenticated", role=Role.READ, method="none")  # for refused calls
principal_var: ContextVar[Principal] = ContextVar("principal", default=ANONYMOUS)

_M, _G, _A = "/recalld.v1.MemoryService/", "/recalld.v1.GraphService/", "/recalld.v1.AdminService/"
ROLES: dict[str, Role] = {
    **{_M + m: Role.READ for m in ("Search", "Get", "List", "History", "GetOperation", "WatchOperations",
                                    "Profile", "ListGrants")},
    **{_M + m: Role.WRITE for m in ("Add", "Import", "Update", "Delete", "DeleteAll", "MarkUsed", "GrantAccess",
                                     "RevokeAccess")},
    _G + "Subgraph": Role.READ,
    _G + "Paths": Role.READ,
    **{_A + m: Role.ADMIN for m in ("Verify", "Reindex", "CreateApiKey", "ListApiKeys", "RevokeApiKey", "Erase")},
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": Role.READ,
}  # fmt: skip
_OPEN = ("/grpc.health.v1.Health/",)  # no credential needed
_TENANT_WIDE = frozenset(_A + m for m in ("Verify", "Reindex"))


def current_principal() -> Principal:
    return principal_var.get()


class Authenticator:
    """Credentials -> Principal. API keys are looked up in the control store and cached for
    ``cache_s`` (a key revoked through this process is dropped from its cache at once)."""

    def __init__(
        self, control: CredentialStore, *, jwt: JwtVerifier | None, bootstrap_token: str, cache_s: float
    ) -> None:
        self._control = control
        self._jwt = jwt
        self._bootstrap = hash_secret(bootstrap_token) if bootstrap_token else ""
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, control: CredentialStore) -> Authenticator:
        verifier = None
        if settings.auth_jwt_issuers:
            verifier = JwtVerifier(
                {iss: Path(path) for iss, path in settings.auth_jwt_issuers.items()},
                audience=settings.auth_jwt_audience,
                leeway_s=settings.auth_jwt_leeway_s,
            )
        token = ""
        if settings.auth_bootstrap_key_file:
            token = Path(settings.auth_bootstrap_key_file).read_text().strip()
            if len(token) < 32:
                raise ValueError("RECALLD_AUTH_BOOTSTRAP_KEY_FILE must hold a secret of at least 32 characters")
        return cls(control, jwt=verifier, bootstrap_token=token, cache_s=settings.auth_key_cache_s)

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    async def authenticate(self, metadata: Iterable[tuple[str, str | bytes]]) -> Principal:
        found = bearer_token(metadata)
        if found is None:
            raise Unauthenticated(
                "no credential: send 'authorization: Bearer <API key or JWT>' or 'x-api-key: <API key>'"
            )
        kind, token = found
        if self._bootstrap and hmac.compare_digest(hash_secret(token), self._bootstrap):
            return Principal(DEFAULT_TENANT, "bootstrap", Role.ADMIN, method="bootstrap", superuser=True)
        if kind == "bearer":
            if self._jwt is None:
                raise Unauthenticated("JWT bearer tokens are not accepted: no trusted issuer is configured")
            return self._jwt.verify(token)
        key_id, secret = parse_api_key(token)
        key = await self._key(key_id)
        if key is None or not secret_matches(secret, key.secret_hash):
            raise Unauthenticated("unknown API key")
        if not key.active:
            raise Unauthenticated(f"API key {key_id} was revoked")
        return Principal(
            tenant=key.tenant, name=key.name, role=key.role, users=key.users, agents=key.agents, key_id=key.id,
            method="api_key",
        )  # fmt: skip

    async def _key(self, key_id: str) -> ApiKey | None:
        now = time.monotonic()
        hit = self._cache.get(key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        key = await self._control.get_api_key(key_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key_id] = (now + self._cache_s, key)
        return key


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per tenant (per process: N replicas admit up to N times the rate)."""

    def __init__(self, settings: Settings) -> None:
        self._default = settings.tenant_rate
        self._rates = {t: float(r) for t, r in settings.tenant_rates.items()}
        self._burst = settings.tenant_burst
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, tenant: str) -> None:
        rate = self._rates.get(tenant, self._default)
        if rate <= 0:
            return
        now = time.monotonic()
        b = self._buckets.get(tenant)
        if b is None or b.rate != rate:
            burst = self._burst or max(1.0, rate)
            b = self._buckets[tenant] = _Bucket(rate, burst, burst, now)
        b.tokens = min(b.burst, b.tokens + (now - b.at) * b.rate)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return
        wait = (1.0 - b.tokens) / b.rate
        raise RateLimited(
            f"rate limit of tenant {tenant!r} reached ({rate:g} requests/s, burst {b.burst:g}); "
            f"retry after {wait:.2f} s",
            retry_after_s=wait,
        )


class RateLimited(ResourceExhausted):
    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def request_scope(request: Any) -> Scope | None:
    """The scope a request acts on, for authorization and the audit log."""
    fields = request.DESCRIPTOR.fields_by_name
    if "scope" in fields:
        s = request.scope
        return Scope(s.user_id, s.agent_id, s.run_id)
    if "owner_agent" in fields and "user_id" in fields:  # grants
        return Scope(request.user_id, request.owner_agent)
    if "user_id" in fields:
        return Scope(request.user_id)
    return None


def authorize(principal: Principal, method: str, request: Any) -> None:
    needed = ROLES.get(method, Role.ADMIN)
    if principal.role < needed:
        raise PermissionDenied(
            f"this credential has the {principal.role.name.lower()} role; {method.rsplit('/', 1)[-1]} needs "
            f"{needed.name.lower()}"
        )
    if method in _TENANT_WIDE and (principal.users or principal.agents):
        raise PermissionDenied(
            f"{method.rsplit('/', 1)[-1]} acts on the whole tenant: a credential limited to some users or agents "
            "may not run it"
        )
    scope = request_scope(request) if request is not None else None
    if scope is not None and not principal.allows(scope):
        if principal.users and scope.user_id not in principal.users:
            raise PermissionDenied(f"this credential may not access user {scope.user_id!r}")
        raise PermissionDenied(f"this credential may not access agent {scope.agent_id!r}")


def _memory_ids(message: Any, limit: int = 100) -> list[str]:
    """Memory ids named by a request or a response (never content)."""
    out: list[str] = []
    fields = message.DESCRIPTOR.fields_by_name
    if "memory_id" in fields and message.memory_id:
        out.append(message.memory_id)
    if "memory_ids" in fields:
        out += list(message.memory_ids)

    def messages(name: str) -> bool:
        f = fields.get(name)
        return f is not None and f.message_type is not None

    if messages("memory") and message.HasField("memory"):
        out.append(message.memory.id)
    if messages("memories"):
        out += [m.id for m in message.memories]
    for name in ("hits", "results"):  # Search hits, Add results (each with a memory)
        f = fields.get(name)
        if f is not None and f.message_type is not None and "memory" in f.message_type.fields_by_name:
            out += [x.memory.id for x in getattr(message, name)]
    return list(dict.fromkeys(out))[:limit]


class GuardInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, settings: Settings, authenticator: Authenticator | None, limiter: RateLimiter) -> None:
        self._auth = authenticator  # None: authentication off
        self._limiter = limiter
        self._audit = settings.audit_log != "off"

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(_OPEN):
            return handler
        return rewrap(
            handler,
            unary=partial(self._unary, method),
            stream=partial(self._unary_stream, method),
            bidi=partial(self._stream_stream, method),  # reflection
            client_stream=partial(self._stream_unary, method),  # Import: authorized per item as read
            decode=_tolerant,
        )

    async def _admit(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> Principal:
        """Authenticate, authorize and rate-limit; on refusal abort with the status (and audit it)."""
        if isinstance(request, Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the request is not a valid {request.kind} message")
        principal = ANONYMOUS if self._auth is None else _NOBODY
        try:
            if self._auth is not None:
                principal = await self._auth.authenticate(context.invocation_metadata() or ())
            authorize(principal, method, request)
            self._limiter.admit(principal.tenant)
        except RecalldError as exc:
            code = status_for(exc)
            self._record(principal, method, request, None, code)
            trailing: tuple[tuple[str, str], ...] = ()
            if isinstance(exc, RateLimited):
                trailing = (("retry-after-ms", str(max(1, round(exc.retry_after_s * 1000)))),)
            await context.abort(code, detail(exc), trailing_metadata=trailing)
        return principal

    def _unary(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            principal = await self._admit(method, request, context)
            token = principal_var.set(principal)
            response = None
            try:
                response = await behavior(request, context)
                return response
            finally:
                self._record(principal, method, request, response, _code(context))
                principal_var.reset(token)

        return wrapper

    def _unary_stream(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            principal = await self._admit(method, request, context)
            token = principal_var.set(principal)
            try:
                async for item in behavior(request, context):
                    yield item
            finally:
                self._record(principal, method, request, None, _code(context))
                with contextlib.suppress(ValueError):
                    principal_var.reset(token)

        return wrapper

    def _stream_unary(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """A client stream (Import): the credential and its role are checked when the call opens;
        each request message then costs a rate-limit token and each of its items' scopes must
        be inside the credential's users and agents (else the stream stops with
        PERMISSION_DENIED, raised where the servicer reads the item)."""

        async def wrapper(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            principal = await self._admit(method, None, context)
            token = principal_var.set(principal)
            first = True

            async def checked() -> AsyncIterator[Any]:
                nonlocal first
                async for request in requests:
                    if isinstance(request, Undecodable):
                        raise InvalidArgument(f"a request of the stream is not a valid {request.kind} message")
                    if not first:
                        self._limiter.admit(principal.tenant)
                    first = False
                    items = list(getattr(request, "items", ()))
                    for n, item in enumerate(items):
                        try:
                            authorize(principal, method, item)
                        except RecalldError:
                            if n:  # the items before the refused one go ahead, as in their own request
                                yield type(request)(items=items[:n])
                            raise
                    yield request

            try:
                return await behavior(checked(), context)
            finally:
                self._record(principal, method, None, None, _code(context))
                with contextlib.suppress(ValueError):
                    principal_var.reset(token)

        return wrapper

    def _stream_stream(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            principal = await self._admit(method, None, context)
            token = principal_var.set(principal)
            try:
                async for item in behavior(requests, context):
                    yield item
            finally:
                with contextlib.suppress(ValueError):
                    principal_var.reset(token)

        return wrapper

    def _record(self, principal: Principal, method: str, request: Any, response: Any, code: grpc.StatusCode) -> None:
        if not self._audit:
            return
        try:
            self._write_audit(principal, method, request, response, code)
        except Exception:  # the audit line must never fail the call it describes
            log.exception("audit record of %s failed", method)

    def _write_audit(
        self, principal: Principal, method: str, request: Any, response: Any, code: grpc.StatusCode
    ) -> None:
        scope = request_scope(request) if request is not None else None
        ids = _memory_ids(request) if request is not None else []
        if response is not None:
            ids = list(dict.fromkeys(ids + _memory_ids(response)))
        audit_log.info(
            "rpc",
            extra={
                "tenant": principal.tenant,
                "principal": principal.name,
                "key_id": principal.key_id,
                "auth": principal.method,
                "rpc": method,
                "scope": {k: v for k, v in scope.items()} if scope is not None else {},
                "memory_ids": ids,
                "status": code.name,
            },
        )


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
