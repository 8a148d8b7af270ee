"""The guard: the roles the proto declares for every RPC, authorization, rate limits, the audit
line, and the composed interceptor in front of a real in-process gRPC server."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, cast

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

import recalld.v1
from recalld.kernel.domain import ApiKey, Principal, Role, Scope
from recalld.kernel.errors import PermissionDenied
from recalld.kernel.ports import CredentialStore
from recalld.server.api import converters as conv
from recalld.server.api.audit import AuditLog, memory_ids
from recalld.server.api.authn import Authenticator, current_principal
from recalld.server.api.authz import (
    ROLES,
    SERVICE_FILES,
    TENANT_WIDE,
    authorize,
    declared_access,
    hold_scope,
    method_path,
    parsed_scope,
    release_scope,
    request_scope,
    required_role,
)
from recalld.server.api.guard import GuardInterceptor
from recalld.server.api.limits import RateLimited, RateLimiter
from recalld.server.auth import hash_secret
from recalld.server.environment import load_settings
from recalld.v1 import admin_pb2, common_pb2, memory_pb2, memory_pb2_grpc

# ------------------------------------------------------------------------------------------------
# the roles, from the proto


def _recalld_services() -> list[ServiceDescriptor]:
    """Every service of every generated module of recalld.v1 (found, not listed)."""
    services: list[ServiceDescriptor] = []
    for info in sorted(pkgutil.iter_modules(recalld.v1.__path__), key=lambda i: i.name):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"recalld.v1.{info.name}")
            services += module.DESCRIPTOR.services_by_name.values()
    return services


def _recalld_methods() -> dict[str, Any]:
    return {method_path(s.full_name, m.name): m for s in _recalld_services() for m in s.methods}


def test_every_rpc_declares_a_role() -> None:
    methods = _recalld_methods()
    assert len(methods) >= 24
    missing = [
        path
        for path, m in methods.items()
        if m.GetOptions().Extensions[admin_pb2.required_role] == admin_pb2.ROLE_UNSPECIFIED
    ]
    assert missing == [], f"declare `option (recalld.v1.required_role) = ROLE_...;` on {missing}"


def test_the_role_table_is_every_rpc_exactly_once() -> None:
    methods = _recalld_methods()
    ours = {path for path in ROLES if path.startswith("/recalld.")}
    assert ours == set(methods), "the guard's table must name every recalld RPC and nothing else"
    assert {f.name for f in SERVICE_FILES} == {s.file.name for s in _recalld_services()}
    assert TENANT_WIDE.issubset(methods)
    # the other services' entries name methods that exist
    assert reflection_pb2.DESCRIPTOR  # registers the reflection service in the default pool
    for path in set(ROLES) - ours:
        service, method = path.strip("/").split("/")
        assert method in descriptor_pool.Default().FindServiceByName(service).methods_by_name, path


def test_the_roles_of_the_api() -> None:
    """Who may call what is a security decision: made in the proto, confirmed here."""
    m, g, a = "/recalld.v1.MemoryService/", "/recalld.v1.GraphService/", "/recalld.v1.AdminService/"
    reads = ("Search", "Get", "List", "History", "GetOperation", "WatchOperations", "Profile", "ListGrants")
    writes = ("Add", "Import", "Update", "Delete", "DeleteAll", "MarkUsed", "GrantAccess", "RevokeAccess")
    expected = {
        **{m + x: Role.READ for x in reads},
        **{m + x: Role.WRITE for x in writes},
        g + "Subgraph": Role.READ,
        g + "Paths": Role.READ,
        **{a + x: Role.ADMIN for x in ("Verify", "Reindex", "CreateApiKey", "ListApiKeys", "RevokeApiKey", "Erase")},
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": Role.READ,
    }
    assert dict(ROLES) == expected
    assert frozenset({a + "Verify", a + "Reindex"}) == TENANT_WIDE


def test_an_rpc_without_a_role_needs_admin() -> None:
    """The rule the walk above enforces, on a proto that declares no roles (grpc health)."""
    assert declared_access([health_pb2.DESCRIPTOR]) == ({}, frozenset())
    assert required_role("/grpc.health.v1.Health/Check") is Role.ADMIN
    assert required_role("/recalld.v1.MemoryService/NoSuchThing") is Role.ADMIN


# ------------------------------------------------------------------------------------------------
# authorization

SEARCH = "/recalld.v1.MemoryService/Search"
ADD = "/recalld.v1.MemoryService/Add"
VERIFY = "/recalld.v1.AdminService/Verify"
ERASE = "/recalld.v1.AdminService/Erase"


def _principal(role: Role = Role.WRITE, users: tuple[str, ...] = (), agents: tuple[str, ...] = ()) -> Principal:
    return Principal("acme", "app", role, users=frozenset(users), agents=frozenset(agents), method="api_key")


@pytest.mark.parametrize(
    ("principal", "method", "scope", "message"),
    [
        (_principal(Role.READ), ADD, Scope("u1"), "this credential has the read role; Add needs write"),
        (_principal(Role.WRITE), ERASE, Scope("u1"), "this credential has the write role; Erase needs admin"),
        (_principal(Role.READ), "/x.Y/Unknown", None, "this credential has the read role; Unknown needs admin"),
        (
            _principal(Role.ADMIN, users=("u1",)),
            VERIFY,
            None,
            "Verify acts on the whole tenant: a credential limited to some users or agents may not run it",
        ),
        (_principal(users=("u1",)), SEARCH, Scope("u2"), "this credential may not access user 'u2'"),
        (_principal(agents=("a1",)), SEARCH, Scope("u1", "a2"), "this credential may not access agent 'a2'"),
        (_principal(users=("u1",), agents=("a1",)), SEARCH, Scope("u1"), "this credential may not access agent ''"),
    ],
)
def test_authorize_refuses(principal: Principal, method: str, scope: Scope | None, message: str) -> None:
    with pytest.raises(PermissionDenied) as info:
        authorize(principal, method, scope)
    assert str(info.value) == message


def test_authorize_admits() -> None:
    authorize(_principal(Role.READ), SEARCH, Scope("u1"))
    authorize(_principal(Role.ADMIN), VERIFY, None)
    authorize(_principal(users=("u1",), agents=("a1",)), ADD, Scope("u1", "a1", "r1"))
    authorize(_principal(users=("u1",)), SEARCH, None)  # a request without a scope


def test_request_scope() -> None:
    assert request_scope(memory_pb2.SearchRequest(scope=common_pb2.Scope(user_id="u", agent_id="a", run_id="r"))) == (
        Scope("u", "a", "r")
    )
    assert request_scope(memory_pb2.GrantAccessRequest(user_id="u", owner_agent="a", grantee_agent="b")) == (
        Scope("u", "a")
    )
    assert request_scope(admin_pb2.VerifyRequest()) is None


def test_the_guards_scope_reaches_the_converters() -> None:
    request = memory_pb2.SearchRequest(scope=common_pb2.Scope(user_id="u1"))
    scope = request_scope(request)
    assert scope is not None
    assert conv.scope(request.scope) is not scope  # nothing held: parsed
    token = hold_scope(request, scope)
    try:
        assert parsed_scope(request.scope) is scope
        assert conv.scope(request.scope) is scope
        other = memory_pb2.SearchRequest(scope=common_pb2.Scope(user_id="u1"))
        assert parsed_scope(other.scope) is None and conv.scope(other.scope) == scope
    finally:
        release_scope(token)
    assert parsed_scope(request.scope) is None
    grants = memory_pb2.GrantAccessRequest(user_id="u", owner_agent="a")
    assert hold_scope(grants, request_scope(grants)) is None  # no scope message: nothing held


# ------------------------------------------------------------------------------------------------
# rate limits and the audit line


def test_rate_limiter() -> None:
    limiter = RateLimiter(load_settings({"RECALLD_TENANT_RATE": "2", "RECALLD_TENANT_RATES": "free=0"}))
    limiter.admit("acme")
    limiter.admit("acme")
    with pytest.raises(RateLimited) as info:
        limiter.admit("acme")
    assert str(info.value).startswith("rate limit of tenant 'acme' reached (2 requests/s, burst 2); retry after 0.")
    ((name, millis),) = info.value.trailing_metadata
    assert name == "retry-after-ms" and 1 <= int(millis) <= 500
    for _ in range(10):
        limiter.admit("free")  # rate 0: unlimited


class AuditLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[dict[str, Any]]:
        keys = ("tenant", "principal", "key_id", "auth", "rpc", "scope", "memory_ids", "status")
        return [{k: getattr(r, k) for k in keys} for r in self.records]


@pytest.fixture
def audit_lines() -> Iterator[AuditLines]:
    logger = logging.getLogger("recalld.audit")
    handler, level, disabled = AuditLines(), logger.level, logger.disabled
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.disabled = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.disabled = disabled


def test_memory_ids() -> None:
    response = memory_pb2.SearchResponse(hits=[memory_pb2.SearchHit(memory=common_pb2.Memory(id=i)) for i in "abca"])
    assert memory_ids(response) == ["a", "b", "c"]
    assert memory_ids(memory_pb2.MarkUsedRequest(memory_ids=["x", "y"])) == ["x", "y"]
    assert memory_ids(memory_pb2.GetRequest(memory_id="m")) == ["m"]
    assert memory_ids(memory_pb2.GetResponse()) == []


def test_audit_line_and_its_failure(audit_lines: AuditLines, caplog: pytest.LogCaptureFixture) -> None:
    audit = AuditLog(enabled=True)
    request = memory_pb2.GetRequest(scope=common_pb2.Scope(user_id="u1"), memory_id="m1")
    audit.record(_principal(), SEARCH, grpc.StatusCode.OK, scope=Scope("u1"), request=request)
    assert audit_lines.lines() == [
        {
            "tenant": "acme",
            "principal": "app",
            "key_id": "",
            "auth": "api_key",
            "rpc": SEARCH,
            "scope": {"user_id": "u1"},
            "memory_ids": ["m1"],
            "status": "OK",
        }
    ]
    with caplog.at_level(logging.ERROR, logger="recalld.server.api.audit"):
        audit.record(_principal(), SEARCH, grpc.StatusCode.OK, scope=None, response=object())  # no DESCRIPTOR
    assert f"audit record of {SEARCH} failed" in caplog.text
    AuditLog(enabled=False).record(_principal(), SEARCH, grpc.StatusCode.OK, scope=None)
    assert len(audit_lines.records) == 1


# ------------------------------------------------------------------------------------------------
# the interceptor, composed, in front of a real server

SECRET = "s" * 43


class Keys:
    """A credential store holding a few API keys (token rk_<id>_<SECRET>)."""

    def __init__(self, *keys: ApiKey) -> None:
        self.keys = {k.id: k for k in keys}

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        return self.keys.get(key_id)


def _key(key_id: str, role: Role, users: tuple[str, ...] = (), tenant: str = "acme") -> ApiKey:
    return ApiKey(key_id, tenant, f"{key_id}-app", role, hash_secret(SECRET), datetime.now(UTC), users=frozenset(users))


def _token(key_id: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer rk_{key_id}_{SECRET}"),)


class Memories(memory_pb2_grpc.MemoryServiceServicer):
    """Search answers with one hit and notes what the servicer saw of the guard."""

    def __init__(self) -> None:
        self.seen: list[tuple[Principal, bool]] = []

    async def Search(self, request: memory_pb2.SearchRequest, context: grpc.aio.ServicerContext) -> Any:
        self.seen.append((current_principal(), parsed_scope(request.scope) is conv.scope(request.scope)))
        return memory_pb2.SearchResponse(hits=[memory_pb2.SearchHit(memory=common_pb2.Memory(id="m1"))])


@pytest.fixture
async def served() -> AsyncIterator[tuple[grpc.aio.Channel, Memories]]:
    settings = load_settings({"RECALLD_TENANT_RATES": "busy=1", "RECALLD_TENANT_BURST": "1"})
    keys = Keys(
        _key("000000000001", Role.READ),
        _key("000000000002", Role.WRITE, users=("u1",)),
        _key("000000000003", Role.READ, tenant="busy"),
    )
    auth = Authenticator(cast(CredentialStore, keys), jwt=None, bootstrap_token="", cache_s=60)
    server = grpc.aio.server(interceptors=[GuardInterceptor(settings, auth, RateLimiter(settings))])
    memories = Memories()
    memory_pb2_grpc.add_MemoryServiceServicer_to_server(memories, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel, memories
    finally:
        await server.stop(None)


async def _refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def test_the_guard_in_front_of_a_server(
    served: tuple[grpc.aio.Channel, Memories], audit_lines: AuditLines
) -> None:
    channel, memories = served
    stub = memory_pb2_grpc.MemoryServiceStub(channel)
    search = memory_pb2.SearchRequest(scope=common_pb2.Scope(user_id="u1"), query="q")

    response = await stub.Search(search, metadata=_token("000000000001"))
    assert [h.memory.id for h in response.hits] == ["m1"]
    ((principal, scope_parsed_once),) = memories.seen
    assert (principal.tenant, principal.name, principal.role) == ("acme", "000000000001-app", Role.READ)
    assert scope_parsed_once

    err = await _refused(stub.Search(search))
    assert err.code() is grpc.StatusCode.UNAUTHENTICATED
    assert err.details() == "no credential: send 'authorization: Bearer <API key or JWT>' or 'x-api-key: <API key>'"
    err = await _refused(stub.Search(search, metadata=_token("00000000000f")))
    assert (err.code(), err.details()) == (grpc.StatusCode.UNAUTHENTICATED, "unknown API key")
    add = memory_pb2.AddRequest(scope=common_pb2.Scope(user_id="u1"))
    err = await _refused(stub.Add(add, metadata=_token("000000000001")))
    assert err.code() is grpc.StatusCode.PERMISSION_DENIED
    assert err.details() == "this credential has the read role; Add needs write"
    other = memory_pb2.SearchRequest(scope=common_pb2.Scope(user_id="u2"))
    err = await _refused(stub.Search(other, metadata=_token("000000000002")))
    assert (err.code(), err.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "this credential may not access user 'u2'",
    )

    await stub.Search(search, metadata=_token("000000000003"))
    err = await _refused(stub.Search(search, metadata=_token("000000000003")))
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.details().startswith("rate limit of tenant 'busy' reached (1 requests/s, burst 1); retry after ")
    assert int(dict(err.trailing_metadata() or ())["retry-after-ms"]) > 0

    garbage = channel.unary_unary("/recalld.v1.MemoryService/Search")
    err = await _refused(garbage(b"\xff\xff\xff", metadata=_token("000000000001")))
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT and "is not a valid" in err.details()

    lines = audit_lines.lines()
    assert [(x["tenant"], x["principal"], x["status"]) for x in lines] == [
        ("acme", "000000000001-app", "OK"),
        ("", "unauthenticated", "UNAUTHENTICATED"),
        ("", "unauthenticated", "UNAUTHENTICATED"),
        ("acme", "000000000001-app", "PERMISSION_DENIED"),
        ("acme", "000000000002-app", "PERMISSION_DENIED"),
        ("busy", "000000000003-app", "OK"),
        ("busy", "000000000003-app", "RESOURCE_EXHAUSTED"),
    ]  # the undecodable request is answered before it is audited, as before
    assert lines[0] == {
        "tenant": "acme",
        "principal": "000000000001-app",
        "key_id": "000000000001",
        "auth": "api_key",
        "rpc": SEARCH,
        "scope": {"user_id": "u1"},
        "memory_ids": ["m1"],
        "status": "OK",
    }
    assert lines[4]["scope"] == {"user_id": "u2"}
