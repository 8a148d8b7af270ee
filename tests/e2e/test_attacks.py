"""Attacks on a real server with authentication on (issue 10, item 7), on every backend combination.

Two tenants hold memories of the same user names ("alice", "bob"), an asynchronous operation, a
grant and API keys. A credential of tenant A is then driven through every RPC and field with
tenant B's ids and scopes; revoked, malformed, forged and expired credentials; a read-only and a
user-limited credential against what they may not do; injection strings in every string field;
oversize and undecodable requests. Each must answer with the right status, return nothing of B
(every memory id and text is checked against B's) and write nothing (B's stores are read back
through B's own admin key before and after, field by field).

The raw generated stubs are used, so that every RPC and field can be driven as an attacker would.
"""

# ruff: noqa: B023  (the lambdas in loops are called at once, by expect() / attempt())

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from recalld.v1 import admin_pb2, admin_pb2_grpc, common_pb2, graph_pb2, graph_pb2_grpc, memory_pb2, memory_pb2_grpc
from tests.e2e.secure import AUDIENCE, ISSUER, SecureServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # ~40 s embedded, ~3 min with FalkorDB + Milvus

Code = grpc.StatusCode
Metadata = tuple[tuple[str, str], ...]
TA, TB = "tenant-a", "tenant-b"
B_MARKER = "zanzibar"  # in every text of tenant B; never in tenant A's
A_SEED = {
    "alice": ["My cat Luna caught a cold last week.", "I am allergic to penicillin.", "I live in Paris."],
    "bob": ["I play the piano every evening."],
}
B_SEED = {
    "alice": [
        f"My dog Rex is a beagle from {B_MARKER}.",
        f"I moved to Oslo with {B_MARKER}.",
        f"I am allergic to penicillin, says {B_MARKER}.",
    ],
    "bob": [f"I play the cello in {B_MARKER}."],
    "carol": [f"Carol collects stamps from {B_MARKER}."],  # a user tenant A does not have
}
B_ENTITIES = ["Rex", "beagle", "Oslo", "cello", "stamps", "Carol", B_MARKER]
MODES = (memory_pb2.RETRIEVAL_MODE_HYBRID, memory_pb2.RETRIEVAL_MODE_VECTOR, memory_pb2.RETRIEVAL_MODE_GRAPH)
USER_LEVELS = (common_pb2.LEVEL_USER, common_pb2.LEVEL_SESSION, common_pb2.LEVEL_AGENT, common_pb2.LEVEL_SHARED)


def creds(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def scope(user: str = "", agent: str = "", run: str = "") -> common_pb2.Scope:
    return common_pb2.Scope(user_id=user, agent_id=agent, run_id=run)


def struct(d: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(d)
    return s


def user_msg(text: str) -> list[memory_pb2.Message]:
    return [memory_pb2.Message(role="user", content=text)]


def value(v: Any) -> struct_pb2.Value:
    out = struct_pb2.Value()
    if isinstance(v, list):
        out.list_value.extend(v)
    else:
        out.string_value = v
    return out


@dataclass
class Outcome:
    code: Code
    details: str
    response: Any = None


def attempt(fn: Callable[[], Any]) -> Outcome:
    """Call; a stream is drained. The status, its message and the response (None on error)."""
    try:
        resp = fn()
        if not hasattr(resp, "DESCRIPTOR"):  # a server stream
            resp = list(resp)
        return Outcome(Code.OK, "", resp)
    except grpc.RpcError as exc:
        return Outcome(exc.code(), exc.details() or "")


def expect(fn: Callable[[], Any], code: Code, *words: str) -> Outcome:
    out = attempt(fn)
    assert out.code == code, f"expected {code.name}, got {out.code.name}: {out.details}"
    for w in words:
        assert w.lower() in out.details.lower(), f"{code.name} message {out.details!r} does not name {w!r}"
    return out


def memories_in(resp: Any) -> Iterator[common_pb2.Memory]:
    """Every Memory a response carries, wherever it sits."""
    if resp is None:
        return
    if isinstance(resp, list):  # a stream's messages
        for r in resp:
            yield from memories_in(r)
        return
    for fd, val in resp.ListFields():
        if fd.message_type is None:
            continue
        items = val if fd.is_repeated else [val]
        for item in items:
            if fd.message_type.full_name == "recalld.v1.Memory":
                yield item
            else:
                yield from memories_in(item)


def ids_and_texts(resp: Any) -> tuple[set[str], list[str]]:
    """Memory ids (of memories, edges, results, history) and every string of a response."""
    ids: set[str] = set()
    texts: list[str] = []

    def walk(msg: Any) -> None:
        for fd, val in msg.ListFields():
            items = val if fd.is_repeated else [val]
            for item in items:
                if fd.message_type is not None:
                    if fd.message_type.full_name == "google.protobuf.Struct":
                        texts.append(json.dumps(dict(item)))
                    else:
                        walk(item)
                elif isinstance(item, str):
                    texts.append(item)
                    if fd.name in ("memory_id", "superseded_by", "related_ids") and item:
                        ids.add(item)
        if msg.DESCRIPTOR.full_name == "recalld.v1.Memory":
            ids.add(msg.id)

    for r in resp if isinstance(resp, list) else [resp]:
        if r is not None:
            walk(r)
    return ids, texts


@dataclass
class World:
    s: SecureServer
    channel: grpc.Channel
    memory: memory_pb2_grpc.MemoryServiceStub
    graph: graph_pb2_grpc.GraphServiceStub
    admin: admin_pb2_grpc.AdminServiceStub
    a_admin: str
    b_admin: str
    a_ids: dict[str, str] = field(default_factory=dict)  # memory id -> user, tenant A (grows)
    b_ids: dict[str, str] = field(default_factory=dict)  # memory id -> user, tenant B
    b_texts: set[str] = field(default_factory=set)
    a_ops: dict[str, str] = field(default_factory=dict)  # user -> operation id
    b_op: str = ""
    a_grant: tuple[str, str, str] = ("alice", "tutor", "mentor")
    b_grant: tuple[str, str, str] = ("alice", "tutor", "coach")
    b_grant_ids: set[str] = field(default_factory=set)
    b_key_ids: set[str] = field(default_factory=set)

    # -- helpers -----------------------------------------------------------------------------

    def add(self, token: str, sc: common_pb2.Scope, text: str, *, infer: bool = True, **meta: Any) -> list[str]:
        resp = self.memory.Add(
            memory_pb2.AddRequest(scope=sc, messages=user_msg(text), infer=infer, metadata=struct(meta)),
            metadata=creds(token),
        )
        return [r.memory.id for r in resp.results if r.memory.id]

    def wait_op(self, token: str, op_id: str) -> memory_pb2.Operation:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            op = self.memory.GetOperation(
                memory_pb2.GetOperationRequest(operation_id=op_id), metadata=creds(token)
            ).operation
            if op.status in (memory_pb2.OPERATION_STATUS_SUCCEEDED, memory_pb2.OPERATION_STATUS_FAILED):
                return op
            time.sleep(0.1)
        raise AssertionError(f"operation {op_id} did not finish")

    def listed(self, token: str, user: str) -> list[common_pb2.Memory]:
        return list(
            self.memory.List(memory_pb2.ListRequest(scope=scope(user), page_size=1000), metadata=creds(token)).memories
        )

    def snapshot(self, tenant: str) -> dict[str, bytes]:
        """Everything of a tenant that an attack could change, read through its own admin key."""
        token, ids = (self.a_admin, self.a_ids) if tenant == TA else (self.b_admin, self.b_ids)
        md = creds(token)
        out: dict[str, bytes] = {}

        def keep(name: str, msg: Any) -> None:
            out[name] = msg.SerializeToString(deterministic=True)

        for user in sorted({*ids.values(), "alice", "bob", "carol"}):
            keep(
                f"list:{user}", self.memory.List(memory_pb2.ListRequest(scope=scope(user), page_size=1000), metadata=md)
            )
            grants = memory_pb2.ListGrantsRequest(user_id=user, include_revoked=True)
            keep(f"grants:{user}", self.memory.ListGrants(grants, metadata=md))
        for mid, user in sorted(ids.items()):
            history = memory_pb2.HistoryRequest(scope=scope(user), memory_id=mid)
            keep(f"history:{mid}", self.memory.History(history, metadata=md))
        verify = self.admin.Verify(admin_pb2.VerifyRequest(), metadata=md)
        assert verify.consistent, f"{tenant} is not consistent: {verify}"
        keep("verify", verify)
        keys = self.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(include_revoked=True), metadata=md)
        keep("keys", admin_pb2.ListApiKeysResponse(keys=sorted(keys.keys, key=lambda k: k.id)))
        if tenant == TB:
            keep("op", self.memory.GetOperation(memory_pb2.GetOperationRequest(operation_id=self.b_op), metadata=md))
        return out

    def assert_clean(self, resp: Any, *, what: str) -> None:
        """No memory id or text of tenant B in a response to tenant A."""
        ids, texts = ids_and_texts(resp)
        leaked = ids & set(self.b_ids)
        assert not leaked, f"{what}: tenant B's memories {leaked} answered to tenant A"
        for t in texts:
            assert B_MARKER not in t, f"{what}: tenant B's text {t!r} answered to tenant A"
        unknown = {m.id for m in memories_in(resp)} - set(self.a_ids)
        assert not unknown, f"{what}: memories {unknown} that tenant A never made"

    def healthy(self) -> None:
        health = health_pb2_grpc.HealthStub(self.channel)
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING


def a_memories(w: World, token: str) -> None:
    """Refresh tenant A's id -> user map from the store (Adds with infer may make several)."""
    for user in ("alice", "bob"):
        for m in w.listed(token, user):
            w.a_ids[m.id] = user


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, backends: dict[str, str]) -> Iterator[World]:
    root: Path = tmp_path_factory.mktemp("attacks")
    with SecureServer(root, env=backends) as s:
        channel = grpc.insecure_channel(s.address)
        w = World(
            s=s,
            channel=channel,
            memory=memory_pb2_grpc.MemoryServiceStub(channel),
            graph=graph_pb2_grpc.GraphServiceStub(channel),
            admin=admin_pb2_grpc.AdminServiceStub(channel),
            a_admin=s.key(TA, "admin"),
            b_admin=s.key(TB, "admin"),
        )
        # every key of tenant B is made now: its key list is part of the snapshots
        for role in ("read", "write"):
            s.key(TB, role)
        for tenant, seed, token in ((TA, A_SEED, w.a_admin), (TB, B_SEED, w.b_admin)):
            for user, texts in seed.items():
                for text in texts:
                    w.add(token, scope(user), text)
            tail = f" in {B_MARKER}" if tenant == TB else ""
            w.add(token, scope("alice", agent="tutor"), f"Alice studies algebra with the tutor{tail}.")
            w.add(token, scope("alice", run="run-1"), f"Today alice felt tired{tail}.")
            user, owner, grantee = w.a_grant if tenant == TA else w.b_grant
            g = w.memory.GrantAccess(
                memory_pb2.GrantAccessRequest(user_id=user, owner_agent=owner, grantee_agent=grantee),
                metadata=creds(token),
            ).grant
            if tenant == TB:
                w.b_grant_ids.add(g.id)
        for user in ("alice", "bob"):  # asynchronous Adds: A's of both users, B's of alice
            op = w.memory.Add(
                memory_pb2.AddRequest(scope=scope(user), messages=user_msg(f"I drink green tea, {user} says."),
                                      mode=memory_pb2.ADD_MODE_ASYNC),
                metadata=creds(w.a_admin),
            ).operation_id  # fmt: skip
            w.a_ops[user] = op
        w.b_op = w.memory.Add(
            memory_pb2.AddRequest(scope=scope("alice"), messages=user_msg(f"I drink black coffee in {B_MARKER}."),
                                  mode=memory_pb2.ADD_MODE_ASYNC),
            metadata=creds(w.b_admin),
        ).operation_id  # fmt: skip
        for op in (*w.a_ops.values(),):
            assert w.wait_op(w.a_admin, op).status == memory_pb2.OPERATION_STATUS_SUCCEEDED
        assert w.wait_op(w.b_admin, w.b_op).status == memory_pb2.OPERATION_STATUS_SUCCEEDED
        for user in ("alice", "bob", "carol"):
            for m in w.listed(w.b_admin, user):
                w.b_ids[m.id] = user
                w.b_texts.add(m.text)
                assert B_MARKER in m.text
        a_memories(w, w.a_admin)
        assert len(w.b_ids) >= 7 and len(w.a_ids) >= 6
        assert not set(w.a_ids) & set(w.b_ids)
        w.b_key_ids = {
            k.id for k in w.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(), metadata=creds(w.b_admin)).keys
        }
        try:
            yield w
        finally:
            channel.close()


# ------------------------------------------------------------------------------------------------
# Every RPC, with a request that is valid in tenant A's own terms


def every_rpc(w: World) -> dict[str, Callable[[Metadata], Any]]:
    """Each RPC of the three services (and reflection) with a plausible request on tenant A's data."""
    a_id = next(i for i, u in w.a_ids.items() if u == "alice")
    m, g, a = w.memory, w.graph, w.admin
    alice = scope("alice")
    reflection = reflection_pb2_grpc.ServerReflectionStub(w.channel)
    return {
        "Add": lambda md: m.Add(memory_pb2.AddRequest(scope=alice, messages=user_msg("I like chess."), infer=False), metadata=md),  # noqa: E501
        "Import": lambda md: m.Import(iter([memory_pb2.ImportRequest(items=[memory_pb2.ImportItem(source_id="attack:1", scope=alice, messages=user_msg("I like go."), infer=False)])]), metadata=md),  # noqa: E501
        "Search": lambda md: m.Search(memory_pb2.SearchRequest(scope=alice, query="cat"), metadata=md),
        "Get": lambda md: m.Get(memory_pb2.GetRequest(scope=alice, memory_id=a_id), metadata=md),
        "List": lambda md: m.List(memory_pb2.ListRequest(scope=alice), metadata=md),
        "Update": lambda md: m.Update(memory_pb2.UpdateRequest(scope=alice, memory_id=a_id, text="I live in Rome."), metadata=md),  # noqa: E501
        "Delete": lambda md: m.Delete(memory_pb2.DeleteRequest(scope=alice, memory_id=a_id), metadata=md),
        "DeleteAll": lambda md: m.DeleteAll(memory_pb2.DeleteAllRequest(scope=alice), metadata=md),
        "History": lambda md: m.History(memory_pb2.HistoryRequest(scope=alice, memory_id=a_id), metadata=md),
        "GetOperation": lambda md: m.GetOperation(memory_pb2.GetOperationRequest(operation_id=w.a_ops["alice"]), metadata=md),  # noqa: E501
        "WatchOperations": lambda md: list(m.WatchOperations(memory_pb2.WatchOperationsRequest(operation_ids=[w.a_ops["alice"]]), metadata=md)),  # noqa: E501
        "Profile": lambda md: m.Profile(memory_pb2.ProfileRequest(scope=alice), metadata=md),
        "MarkUsed": lambda md: m.MarkUsed(memory_pb2.MarkUsedRequest(scope=alice, memory_ids=[a_id]), metadata=md),
        "GrantAccess": lambda md: m.GrantAccess(memory_pb2.GrantAccessRequest(user_id="alice", owner_agent="tutor", grantee_agent="nurse"), metadata=md),  # noqa: E501
        "RevokeAccess": lambda md: m.RevokeAccess(memory_pb2.RevokeAccessRequest(user_id="alice", owner_agent="tutor", grantee_agent="mentor"), metadata=md),  # noqa: E501
        "ListGrants": lambda md: m.ListGrants(memory_pb2.ListGrantsRequest(user_id="alice"), metadata=md),
        "Subgraph": lambda md: g.Subgraph(graph_pb2.SubgraphRequest(scope=alice, entity="Luna"), metadata=md),
        "Paths": lambda md: g.Paths(graph_pb2.PathsRequest(scope=alice, source="alice", target="Luna"), metadata=md),
        "Verify": lambda md: a.Verify(admin_pb2.VerifyRequest(), metadata=md),
        "Reindex": lambda md: a.Reindex(admin_pb2.ReindexRequest(), metadata=md),
        "CreateApiKey": lambda md: a.CreateApiKey(admin_pb2.CreateApiKeyRequest(name="intruder", role=admin_pb2.ROLE_ADMIN), metadata=md),  # noqa: E501
        "ListApiKeys": lambda md: a.ListApiKeys(admin_pb2.ListApiKeysRequest(), metadata=md),
        "RevokeApiKey": lambda md: a.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=w.a_admin[3:15]), metadata=md),
        "Erase": lambda md: a.Erase(admin_pb2.EraseRequest(scope=alice), metadata=md),
        "ServerReflectionInfo": lambda md: list(reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), metadata=md)),  # noqa: E501
    }  # fmt: skip


WRITES = ("Add", "Import", "Update", "Delete", "DeleteAll", "MarkUsed", "GrantAccess", "RevokeAccess")
ADMINS = ("Verify", "Reindex", "CreateApiKey", "ListApiKeys", "RevokeApiKey", "Erase")


def test_every_rpc_is_covered(world: World) -> None:
    """The table above names every RPC the services define: a new RPC must be attacked too."""
    defined = {
        meth.name
        for mod in (memory_pb2, graph_pb2, admin_pb2)
        for svc in mod.DESCRIPTOR.services_by_name.values()
        for meth in svc.methods
    }
    assert defined | {"ServerReflectionInfo"} == set(every_rpc(world))


# ------------------------------------------------------------------------------------------------
# Health, reflection


def test_health_needs_no_credential(world: World) -> None:
    health = health_pb2_grpc.HealthStub(world.channel)
    for svc in ("", "recalld.v1.MemoryService", "recalld.v1.GraphService", "recalld.v1.AdminService"):
        assert health.Check(health_pb2.HealthCheckRequest(service=svc)).status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_needs_a_credential(world: World) -> None:
    call = every_rpc(world)["ServerReflectionInfo"]
    expect(lambda: call(()), Code.UNAUTHENTICATED, "no credential")
    services = call(creds(world.s.key(TA, "read")))[0].list_services_response.service
    assert "recalld.v1.MemoryService" in {s.name for s in services}


# ------------------------------------------------------------------------------------------------
# Tenant A's admin key against tenant B's ids and scopes


def test_tenant_a_cannot_reach_tenant_b_memories(world: World) -> None:
    w, md = world, creds(world.a_admin)
    before = w.snapshot(TB)
    for mid, user in w.b_ids.items():
        for sc in (scope(user), scope("alice"), scope(user, agent="tutor"), scope(user, run="run-1")):
            expect(
                lambda sc=sc, mid=mid: w.memory.Get(memory_pb2.GetRequest(scope=sc, memory_id=mid), metadata=md),
                Code.NOT_FOUND,
            )
        s = scope(user)
        expect(lambda: w.memory.History(memory_pb2.HistoryRequest(scope=s, memory_id=mid), metadata=md), Code.NOT_FOUND)
        expect(
            lambda: w.memory.Update(memory_pb2.UpdateRequest(scope=s, memory_id=mid, text="hijacked"), metadata=md),
            Code.NOT_FOUND,
        )
        expect(
            lambda: w.memory.Update(
                memory_pb2.UpdateRequest(scope=s, memory_id=mid, importance=1.0, clear_expiry=True), metadata=md
            ),
            Code.NOT_FOUND,
        )
        expect(
            lambda: w.memory.Update(
                memory_pb2.UpdateRequest(scope=s, memory_id=mid, text="x", expected_version=1), metadata=md
            ),
            Code.NOT_FOUND,
        )
        expect(lambda: w.memory.Delete(memory_pb2.DeleteRequest(scope=s, memory_id=mid), metadata=md), Code.NOT_FOUND)
        expect(
            lambda: w.memory.Delete(memory_pb2.DeleteRequest(scope=s, memory_id=mid, expected_version=1), metadata=md),
            Code.NOT_FOUND,
        )
    for user in ("alice", "bob", "carol"):
        mine = [i for i, u in w.b_ids.items() if u == user]
        marked = expect(
            lambda: w.memory.MarkUsed(memory_pb2.MarkUsedRequest(scope=scope(user), memory_ids=mine), metadata=md),
            Code.OK,
        )
        assert marked.response.marked_count == 0
    assert w.snapshot(TB) == before


def test_tenant_a_reads_in_b_user_names_see_only_a(world: World) -> None:
    """Search, List, Profile and the graph in user names both tenants have (and one only B has):
    OK, with tenant A's own memories only."""
    w, md = world, creds(world.a_admin)
    before = w.snapshot(TB)
    query = " ".join(sorted(w.b_texts))[:1500]
    for user in ("alice", "bob", "carol"):
        for sc in (scope(user), scope(user, agent="tutor"), scope(user, run="run-1"), scope(user, agent="coach")):
            for mode in MODES:
                for retired in (False, True):
                    req = memory_pb2.SearchRequest(scope=sc, query=query, limit=100, mode=mode, include_retired=retired)
                    out = expect(lambda req=req: w.memory.Search(req, metadata=md), Code.OK)
                    w.assert_clean(out.response, what=f"Search {sc}")
            if sc.agent_id:
                levels = USER_LEVELS if sc.run_id else [lv for lv in USER_LEVELS if lv != common_pb2.LEVEL_SESSION]
                req = memory_pb2.SearchRequest(scope=sc, query=query, limit=100, levels=levels)
                w.assert_clean(w.memory.Search(req, metadata=md), what=f"Search levels {sc}")
                prof = w.memory.Profile(memory_pb2.ProfileRequest(scope=sc, levels=levels), metadata=md)
                w.assert_clean(prof, what=f"Profile levels {sc}")
            listed = expect(
                lambda sc=sc: w.memory.List(memory_pb2.ListRequest(scope=sc, page_size=1000), metadata=md), Code.OK
            )
            w.assert_clean(listed.response, what=f"List {sc}")
            w.assert_clean(w.memory.Profile(memory_pb2.ProfileRequest(scope=sc), metadata=md), what=f"Profile {sc}")
            grants = w.memory.ListGrants(memory_pb2.ListGrantsRequest(user_id=user, include_revoked=True), metadata=md)
            assert not {g.id for g in grants.grants} & w.b_grant_ids
        hits = w.memory.Search(memory_pb2.SearchRequest(scope=scope(user), query=query, limit=100), metadata=md).hits
        if user == "carol":  # only tenant B has a carol
            assert not hits
            assert not w.listed(w.a_admin, "carol")
    for sc in (scope(agent="tutor"), scope(run="run-1")):  # scopes without a user
        w.assert_clean(
            w.memory.Search(memory_pb2.SearchRequest(scope=sc, query=query, limit=100), metadata=md),
            what=f"Search {sc}",
        )
        w.assert_clean(w.memory.List(memory_pb2.ListRequest(scope=sc, page_size=1000), metadata=md), what=f"List {sc}")
    for user in ("alice", "bob", "carol"):
        for entity in [*B_ENTITIES, user]:
            for retired in (False, True):
                req = graph_pb2.SubgraphRequest(scope=scope(user), entity=entity, depth=4, limit=1000,
                                                validity=graph_pb2.ValidityFilter(include_retired=retired))  # fmt: skip
                out = attempt(lambda req=req: w.graph.Subgraph(req, metadata=md))
                assert out.code in (Code.OK, Code.NOT_FOUND), out
                w.assert_clean(out.response, what=f"Subgraph {user} {entity}")
                if out.response is not None:
                    names = {e.name for e in out.response.entities}
                    assert not names & {"Rex", "Oslo", "cello", "stamps", B_MARKER}, names
            out = attempt(
                lambda user=user, entity=entity: w.graph.Paths(
                    graph_pb2.PathsRequest(scope=scope(user), source=user, target=entity, max_depth=4), metadata=md
                )
            )
            assert out.code in (Code.OK, Code.NOT_FOUND), out
            if entity != user:
                assert out.response is None or not out.response.paths, out.response
    assert w.snapshot(TB) == before


def test_tenant_a_operations_grants_and_erasure_stay_in_a(world: World) -> None:
    w, md = world, creds(world.a_admin)
    before = w.snapshot(TB)
    expect(
        lambda: w.memory.GetOperation(memory_pb2.GetOperationRequest(operation_id=w.b_op), metadata=md), Code.NOT_FOUND
    )
    expect(
        lambda: list(w.memory.WatchOperations(memory_pb2.WatchOperationsRequest(operation_ids=[w.b_op]), metadata=md)),
        Code.NOT_FOUND,
    )
    both = memory_pb2.WatchOperationsRequest(operation_ids=[w.a_ops["alice"], w.b_op])
    expect(lambda: list(w.memory.WatchOperations(both, metadata=md)), Code.NOT_FOUND)
    # B's grant does not exist in A: revoking it there is NOT_FOUND; granting it makes A's own
    user, owner, grantee = w.b_grant
    expect(
        lambda: w.memory.RevokeAccess(
            memory_pb2.RevokeAccessRequest(user_id=user, owner_agent=owner, grantee_agent=grantee), metadata=md
        ),
        Code.NOT_FOUND,
    )
    made = w.memory.GrantAccess(
        memory_pb2.GrantAccessRequest(user_id=user, owner_agent=owner, grantee_agent=grantee), metadata=md
    ).grant
    assert made.id not in w.b_grant_ids
    w.memory.RevokeAccess(
        memory_pb2.RevokeAccessRequest(user_id=user, owner_agent=owner, grantee_agent=grantee), metadata=md
    )
    # destructive calls on a user only B has, and on agents/runs both have in other tenants' data
    assert w.memory.DeleteAll(memory_pb2.DeleteAllRequest(scope=scope("carol")), metadata=md).deleted_count == 0
    assert w.memory.DeleteAll(memory_pb2.DeleteAllRequest(scope=scope(agent="coach")), metadata=md).deleted_count == 0
    receipt = w.admin.Erase(admin_pb2.EraseRequest(scope=scope("carol")), metadata=md).receipt
    counts = (receipt.memories, receipt.relations, receipt.entities, receipt.episodes, receipt.history_entries,
              receipt.vectors, receipt.operations, receipt.grants)  # fmt: skip
    assert counts == (0,) * 8, receipt
    # writes in A name B's user and text: they land in A
    new = w.add(w.a_admin, scope("alice"), "I read about Oslo and Rex today.", infer=False)
    assert new and not set(new) & set(w.b_ids)
    w.a_ids.update(dict.fromkeys(new, "alice"))
    # Verify and Reindex see A only
    verify = w.admin.Verify(admin_pb2.VerifyRequest(), metadata=md)
    assert verify.consistent and not set(verify.missing_vectors) & set(w.b_ids)
    a_current = sum(
        1
        for u in ("alice", "bob")
        for m in w.memory.List(
            memory_pb2.ListRequest(scope=scope(u), page_size=1000, current_only=True), metadata=md
        ).memories
    )
    assert verify.memories == a_current
    reindexed = w.admin.Reindex(admin_pb2.ReindexRequest(full=True), metadata=md)
    assert reindexed.upserted == a_current and reindexed.deleted == 0
    assert w.snapshot(TB) == before


def test_tenant_a_admin_cannot_manage_tenant_b_keys(world: World) -> None:
    w, md = world, creds(world.a_admin)
    before = w.snapshot(TB)
    expect(
        lambda: w.admin.CreateApiKey(
            admin_pb2.CreateApiKeyRequest(tenant=TB, name="x", role=admin_pb2.ROLE_ADMIN), metadata=md
        ),
        Code.PERMISSION_DENIED,
        TA,
    )
    expect(
        lambda: w.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(tenant="default", name="x"), metadata=md),
        Code.PERMISSION_DENIED,
    )
    expect(
        lambda: w.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(tenant=TB, include_revoked=True), metadata=md),
        Code.PERMISSION_DENIED,
    )
    for key_id in sorted(w.b_key_ids):
        expect(
            lambda key_id=key_id: w.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=key_id), metadata=md),
            Code.NOT_FOUND,
        )
    mine = w.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(include_revoked=True), metadata=md).keys
    assert mine and {k.tenant for k in mine} == {TA} and not {k.id for k in mine} & w.b_key_ids
    assert w.snapshot(TB) == before  # B's key list unchanged, and B's admin key still works
    assert w.memory.List(memory_pb2.ListRequest(scope=scope("alice")), metadata=creds(w.b_admin)).memories


# ------------------------------------------------------------------------------------------------
# API keys: revoked, malformed, unknown, missing, doubled


def test_revoked_key_is_refused_on_every_rpc(world: World) -> None:
    w = world
    boot = creds(w.s.bootstrap)
    made = w.admin.CreateApiKey(
        admin_pb2.CreateApiKeyRequest(tenant=TA, name="doomed", role=admin_pb2.ROLE_ADMIN), metadata=boot
    )
    md = creds(made.token)
    assert w.memory.List(memory_pb2.ListRequest(scope=scope("alice")), metadata=md).memories
    w.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=made.key.id), metadata=creds(w.a_admin))
    before = w.snapshot(TA)
    for name, call in every_rpc(w).items():
        out = expect(lambda call=call: call(md), Code.UNAUTHENTICATED, "revoked")
        assert made.key.id in out.details, name
        expect(lambda call=call: call((("x-api-key", made.token),)), Code.UNAUTHENTICATED, "revoked")
    assert w.snapshot(TA) == before


def test_bad_api_key_credentials(world: World) -> None:
    w = world
    call = every_rpc(w)["List"]
    key_id = w.a_admin[3:15]
    cases: list[tuple[Metadata, str]] = [
        ((), "no credential"),
        ((("authorization", "Bearer rk_nothex_" + "A" * 43),), "malformed API key"),
        ((("x-api-key", "rk_" + key_id),), "malformed API key"),
        ((("x-api-key", w.a_admin + "!"),), "malformed API key"),
        ((("x-api-key", "rk_" + "0" * 12 + "_" + "A" * 43),), "unknown API key"),  # well-formed, unknown id
        ((("x-api-key", f"rk_{key_id}_" + "A" * 43),), "unknown API key"),  # A's id, wrong secret
        ((("authorization", "Bearer " + w.a_admin), ("x-api-key", w.a_admin)), "more than one credential"),
        ((("authorization", "Bearer " + w.a_admin), ("authorization", "Bearer " + w.b_admin)), "more than one"),
        ((("authorization", "Basic " + base64.b64encode(b"a:b").decode()),), "unsupported authorization scheme"),
        ((("authorization", w.a_admin),), "unsupported authorization scheme"),
        ((("authorization", "Bearer "),), "empty bearer"),
        ((("x-api-key", " "),), "empty x-api-key"),
        ((("authorization", "Bearer a b"),), "whitespace"),
        ((("authorization", "Bearer " + "a.b." + "c" * 6000),), "malformed JWT"),
    ]
    for md, words in cases:
        out = expect(lambda md=md: call(md), Code.UNAUTHENTICATED, words)
        assert w.a_admin[15:] not in out.details  # never echoes a secret
    out = attempt(lambda: call((("authorization", "Bearer " + "a" * 20000),)))  # over gRPC's metadata limit
    assert out.code in (Code.RESOURCE_EXHAUSTED, Code.UNAUTHENTICATED), out
    w.healthy()


# ------------------------------------------------------------------------------------------------
# JWTs


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(tenant: str = TA, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "svc", "iat": now, "exp": now + 300,
            "recalld_tenant": tenant, "recalld_role": "admin"}  # fmt: skip
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def _hand_made(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}".encode()
    return f"{signing_input.decode()}.{_b64(sign(signing_input))}"


def bad_jwts(s: SecureServer) -> dict[str, tuple[str, str]]:
    """name -> (token, words the UNAUTHENTICATED message must contain)."""
    now = int(time.time())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = s.signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    good = s.jwt(tenant=TA, role="admin")
    head, _, sig = good.split(".")
    swapped = f"{head}.{_b64(json.dumps(_claims(TB)).encode())}.{sig}"  # A's signature, B's tenant
    return {
        "expired": (s.jwt(tenant=TA, exp=now - 3600, iat=now - 7200), "expired"),
        "not yet valid (nbf)": (s.jwt(tenant=TA, nbf=now + 3600), "not yet valid"),
        "not yet valid (iat)": (s.jwt(tenant=TA, iat=now + 3600, exp=now + 7200), "not yet valid"),
        "unsigned (alg none)": (
            _hand_made({"alg": "none", "typ": "JWT", "kid": "k1"}, _claims(), lambda _: b""),
            "none",
        ),
        "unsigned (alg None)": (_hand_made({"alg": "None", "kid": "k1"}, _claims(), lambda _: b""), "unsigned"),
        "HS256 with the public key": (
            _hand_made(
                {"alg": "HS256", "typ": "JWT", "kid": "k1"},
                _claims(),
                lambda m: hmac.new(public_pem, m, hashlib.sha256).digest(),
            ),
            "HMAC",
        ),
        "another RSA key, same kid": (
            jwt.encode(_claims(), other, algorithm="RS256", headers={"kid": "k1"}),
            "bad signature",
        ),
        "payload swapped to tenant B": (swapped, "bad signature"),
        "unknown kid": (jwt.encode(_claims(), s.signing_key, algorithm="RS256", headers={"kid": "k2"}), "kid"),
        "wrong issuer": (s.jwt(tenant=TA, iss="https://evil.example"), "not trusted"),
        "no issuer": (jwt.encode(_claims(iss=None), s.signing_key, algorithm="RS256", headers={"kid": "k1"}), "iss"),
        "wrong audience": (s.jwt(tenant=TA, aud="someone-else"), "audience"),
        "no audience": (s.jwt(tenant=TA, aud=None), "aud"),
        "no expiry": (s.jwt(tenant=TA, exp=None), "exp"),
        "no tenant claim": (s.jwt(tenant=TA, recalld_tenant=None), "recalld_tenant"),
        "bad tenant id": (s.jwt(tenant="Tenant_B!"), "not a tenant id"),
        "tenant id too long": (s.jwt(tenant="t" * 40), "not a tenant id"),
        "bad role": (s.jwt(tenant=TA, role="superuser"), "recalld_role"),
        "empty users claim": (s.jwt(tenant=TA, recalld_users=[]), "recalld_users"),
        "no subject": (s.jwt(tenant=TA, sub=""), "sub"),
        "not a JWT": ("a.b.c", "malformed JWT"),
        "two parts": ("abc.def", "malformed JWT"),
    }


def test_bad_jwts_are_refused(world: World) -> None:
    w = world
    call = every_rpc(w)["List"]
    before = w.snapshot(TA)
    for name, (token, words) in bad_jwts(w.s).items():
        out = expect(lambda token=token: call(creds(token)), Code.UNAUTHENTICATED)
        assert words.lower() in out.details.lower(), f"{name}: message {out.details!r} does not name {words!r}"
        erase = lambda token=token: w.admin.Erase(admin_pb2.EraseRequest(scope=scope("alice")), metadata=creds(token))  # noqa: E731
        expect(erase, Code.UNAUTHENTICATED)
    assert w.snapshot(TA) == before


def test_good_jwt_works_in_its_own_tenant(world: World) -> None:
    w = world
    for tenant, ids in ((TA, w.a_ids), (TB, w.b_ids)):
        md = creds(w.s.jwt(tenant=tenant, role="read"))
        listed = w.memory.List(memory_pb2.ListRequest(scope=scope("alice"), page_size=1000), metadata=md).memories
        assert listed and {m.id for m in listed} <= set(ids)
        hits = w.memory.Search(
            memory_pb2.SearchRequest(scope=scope("alice"), query="penicillin allergy"), metadata=md
        ).hits
        assert hits and {h.memory.id for h in hits} <= set(ids)
    md = creds(w.s.jwt(tenant=TA, role="write", recalld_users=["alice"]))
    expect(
        lambda: w.memory.List(memory_pb2.ListRequest(scope=scope("bob")), metadata=md), Code.PERMISSION_DENIED, "bob"
    )


# ------------------------------------------------------------------------------------------------
# Roles and limited credentials


@pytest.mark.parametrize("kind", ["api_key", "jwt"])
def test_read_only_credential_cannot_write(world: World, kind: str) -> None:
    w = world
    md = creds(w.s.key(TA, "read") if kind == "api_key" else w.s.jwt(tenant=TA, role="read"))
    rpcs = every_rpc(w)
    before = w.snapshot(TA)
    for name in (*WRITES, *ADMINS):
        out = expect(lambda name=name: rpcs[name](md), Code.PERMISSION_DENIED, "read role")
        assert name in out.details
    for name in ("Search", "Get", "List", "History", "GetOperation", "WatchOperations", "Profile", "ListGrants",
                 "Subgraph", "Paths"):  # fmt: skip
        w.assert_clean(expect(lambda name=name: rpcs[name](md), Code.OK).response, what=name)
    assert w.snapshot(TA) == before


def test_write_credential_cannot_administer(world: World) -> None:
    w = world
    md = creds(w.s.key(TA, "write"))
    rpcs = every_rpc(w)
    before = w.snapshot(TA)
    for name in ADMINS:
        expect(lambda name=name: rpcs[name](md), Code.PERMISSION_DENIED, "write role", "admin")
    assert w.snapshot(TA) == before


def test_user_limited_credential(world: World) -> None:
    w = world
    md = creds(w.s.key(TA, "write", users=["alice"]))
    admin_md = creds(w.s.key(TA, "admin", users=["alice"]))
    m = w.memory
    bob_id = next(i for i, u in w.a_ids.items() if u == "bob")
    before = w.snapshot(TA)
    hits = m.Search(memory_pb2.SearchRequest(scope=scope("alice"), query="cat cold", limit=100), metadata=md).hits
    assert hits and {h.memory.scope.user_id for h in hits} == {"alice"}
    w.assert_clean(m.Search(memory_pb2.SearchRequest(scope=scope("alice"), query="piano"), metadata=md), what="alice")
    refused: list[Callable[[], Any]] = []
    for sc in (scope("bob"), scope("carol"), scope(agent="tutor"), scope(run="run-1"), scope("Alice"), scope("alice ")):
        refused += [
            lambda sc=sc: m.Search(memory_pb2.SearchRequest(scope=sc, query="piano"), metadata=md),
            lambda sc=sc: m.List(memory_pb2.ListRequest(scope=sc), metadata=md),
            lambda sc=sc: m.Get(memory_pb2.GetRequest(scope=sc, memory_id=bob_id), metadata=md),
            lambda sc=sc: m.History(memory_pb2.HistoryRequest(scope=sc, memory_id=bob_id), metadata=md),
            lambda sc=sc: m.Profile(memory_pb2.ProfileRequest(scope=sc), metadata=md),
            lambda sc=sc: m.Add(memory_pb2.AddRequest(scope=sc, messages=user_msg("x"), infer=False), metadata=md),
            lambda sc=sc: m.Update(memory_pb2.UpdateRequest(scope=sc, memory_id=bob_id, text="x"), metadata=md),
            lambda sc=sc: m.Delete(memory_pb2.DeleteRequest(scope=sc, memory_id=bob_id), metadata=md),
            lambda sc=sc: m.DeleteAll(memory_pb2.DeleteAllRequest(scope=sc), metadata=md),
            lambda sc=sc: m.MarkUsed(memory_pb2.MarkUsedRequest(scope=sc, memory_ids=[bob_id]), metadata=md),
            lambda sc=sc: w.graph.Subgraph(graph_pb2.SubgraphRequest(scope=sc, entity="piano"), metadata=md),
            lambda sc=sc: w.graph.Paths(graph_pb2.PathsRequest(scope=sc, source="bob", target="piano"), metadata=md),
        ]
    refused += [
        lambda: m.GrantAccess(
            memory_pb2.GrantAccessRequest(user_id="bob", owner_agent="a", grantee_agent="b"), metadata=md
        ),
        lambda: m.RevokeAccess(
            memory_pb2.RevokeAccessRequest(user_id="bob", owner_agent="a", grantee_agent="b"), metadata=md
        ),
        lambda: m.ListGrants(memory_pb2.ListGrantsRequest(user_id="bob"), metadata=md),
    ]
    for call in refused:
        expect(call, Code.PERMISSION_DENIED, "may not access")
    # bob's memory through alice's scope, bob's operation: they do not exist for this key
    expect(lambda: m.Get(memory_pb2.GetRequest(scope=scope("alice"), memory_id=bob_id), metadata=md), Code.NOT_FOUND)
    expect(
        lambda: m.GetOperation(memory_pb2.GetOperationRequest(operation_id=w.a_ops["bob"]), metadata=md), Code.NOT_FOUND
    )
    expect(
        lambda: list(m.WatchOperations(memory_pb2.WatchOperationsRequest(operation_ids=[w.a_ops["bob"]]), metadata=md)),
        Code.NOT_FOUND,
    )
    op = m.GetOperation(memory_pb2.GetOperationRequest(operation_id=w.a_ops["alice"]), metadata=md).operation
    assert op.scope.user_id == "alice"
    assert (
        m.MarkUsed(memory_pb2.MarkUsedRequest(scope=scope("alice"), memory_ids=[bob_id]), metadata=md).marked_count == 0
    )
    # a limited admin cannot manage keys, run tenant-wide operations, nor erase another user
    rpcs = every_rpc(w)
    for name in ("CreateApiKey", "ListApiKeys", "RevokeApiKey", "Verify", "Reindex"):
        expect(lambda name=name: rpcs[name](admin_md), Code.PERMISSION_DENIED, "limited")
    expect(
        lambda: w.admin.Erase(admin_pb2.EraseRequest(scope=scope("bob")), metadata=admin_md),
        Code.PERMISSION_DENIED,
        "bob",
    )
    expect(
        lambda: w.admin.Erase(admin_pb2.EraseRequest(scope=scope(agent="tutor")), metadata=admin_md),
        Code.PERMISSION_DENIED,
    )
    assert w.snapshot(TA) == before


def test_agent_limited_credential(world: World) -> None:
    w = world
    md = creds(w.s.key(TA, "read", agents=["tutor"]))
    ok = w.memory.Search(
        memory_pb2.SearchRequest(scope=scope("alice", agent="tutor"), query="algebra", limit=100), metadata=md
    )
    assert ok.hits and {h.memory.scope.agent_id for h in ok.hits} == {"tutor"}
    for sc in (scope("alice"), scope("alice", agent="coach"), scope("alice", agent="mentor"), scope(run="run-1")):
        expect(
            lambda sc=sc: w.memory.Search(memory_pb2.SearchRequest(scope=sc, query="algebra"), metadata=md),
            Code.PERMISSION_DENIED,
            "agent",
        )


# ------------------------------------------------------------------------------------------------
# Injection strings in every string field

INJECTIONS = {
    "sql": "' OR 1=1 --",
    "sql-quoted": "alice' OR '1'='1",
    "cypher": '"}) MATCH (n) DETACH DELETE n //',
    "cypher-quoted": "alice'}) MATCH (n) DETACH DELETE n RETURN 1 //",
    "milvus-expr": 'user_id == "x" or true',
    "milvus-quoted": 'alice" || user_id != "',
    "nul": "alice\x00",
    "control": "\x1b[2J\r\nalice",
    "long": "A" * 5000,
    "unicode": "名前🙂\u202eevil\u200b",
    "regex-json": '.* {"$ne": null}',
    "path-format": "../../etc/passwd %s%n ${jndi:ldap://x}",
    "other-tenant": TB,
}
ALLOWED = {Code.OK, Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.RESOURCE_EXHAUSTED}


@pytest.mark.parametrize("bad", list(INJECTIONS.values()), ids=list(INJECTIONS))
def test_injection_strings(world: World, bad: str) -> None:
    w, md = world, creds(world.a_admin)
    m, g, a = w.memory, w.graph, w.admin
    seed = {mid: user for mid, user in w.a_ids.items()}
    before_b = w.snapshot(TB)
    alice = scope("alice")
    scratch = w.add(w.a_admin, alice, "My scratch note about chess.", infer=False)[0]
    w.a_ids[scratch] = "alice"

    def eq(key: str, v: Any, op: int = memory_pb2.FILTER_OP_EQ) -> memory_pb2.MetadataFilter:
        return memory_pb2.MetadataFilter(key=key, op=op, value=value(v))

    scopes = [scope(bad), scope("alice", agent=bad), scope("alice", run=bad), scope(agent=bad)]
    filters = [[eq(bad, "x")], [eq("source", bad)], [eq("source", [bad, "x"], memory_pb2.FILTER_OP_IN)],
               [eq("source", bad, memory_pb2.FILTER_OP_GT)]]  # fmt: skip
    reads: list[tuple[str, Callable[[], Any]]] = []
    for sc in scopes:
        reads += [
            (
                f"Search {sc}",
                lambda sc=sc: m.Search(memory_pb2.SearchRequest(scope=sc, query=bad, limit=100), metadata=md),
            ),
            (f"List {sc}", lambda sc=sc: m.List(memory_pb2.ListRequest(scope=sc, page_size=1000), metadata=md)),
            (
                f"Profile {sc}",
                lambda sc=sc: m.Profile(memory_pb2.ProfileRequest(scope=sc, levels=USER_LEVELS), metadata=md),
            ),
            (
                f"Subgraph {sc}",
                lambda sc=sc: g.Subgraph(graph_pb2.SubgraphRequest(scope=sc, entity="Luna"), metadata=md),
            ),
            (f"DeleteAll {sc}", lambda sc=sc: m.DeleteAll(memory_pb2.DeleteAllRequest(scope=sc), metadata=md)),
            (f"Get {sc}", lambda sc=sc: m.Get(memory_pb2.GetRequest(scope=sc, memory_id=scratch), metadata=md)),
        ]
    for fs in filters:
        reads += [
            (
                f"Search filter {fs}",
                lambda fs=fs: m.Search(
                    memory_pb2.SearchRequest(scope=alice, query="cat", filters=fs, limit=100), metadata=md
                ),
            ),
            (
                f"List filter {fs}",
                lambda fs=fs: m.List(memory_pb2.ListRequest(scope=alice, filters=fs, page_size=1000), metadata=md),
            ),
        ]
    reads += [
        (
            "Search query",
            lambda: m.Search(
                memory_pb2.SearchRequest(scope=alice, query=bad, limit=100, mode=memory_pb2.RETRIEVAL_MODE_GRAPH),
                metadata=md,
            ),
        ),
        (
            "Search attributes",
            lambda: m.Search(
                memory_pb2.SearchRequest(
                    scope=alice, query="cat", attributes=[common_pb2.Attribute(name=bad, value=bad)]
                ),
                metadata=md,
            ),
        ),
        ("List page_token", lambda: m.List(memory_pb2.ListRequest(scope=alice, page_token=bad), metadata=md)),
        ("Get id", lambda: m.Get(memory_pb2.GetRequest(scope=alice, memory_id=bad), metadata=md)),
        ("History id", lambda: m.History(memory_pb2.HistoryRequest(scope=alice, memory_id=bad), metadata=md)),
        ("Update id", lambda: m.Update(memory_pb2.UpdateRequest(scope=alice, memory_id=bad, text="x"), metadata=md)),
        ("Delete id", lambda: m.Delete(memory_pb2.DeleteRequest(scope=alice, memory_id=bad), metadata=md)),
        (
            "MarkUsed ids",
            lambda: m.MarkUsed(memory_pb2.MarkUsedRequest(scope=alice, memory_ids=[bad, scratch]), metadata=md),
        ),
        ("GetOperation id", lambda: m.GetOperation(memory_pb2.GetOperationRequest(operation_id=bad), metadata=md)),
        (
            "WatchOperations ids",
            lambda: m.WatchOperations(memory_pb2.WatchOperationsRequest(operation_ids=[bad]), metadata=md),
        ),
        ("Subgraph entity", lambda: g.Subgraph(graph_pb2.SubgraphRequest(scope=alice, entity=bad), metadata=md)),
        ("Paths source", lambda: g.Paths(graph_pb2.PathsRequest(scope=alice, source=bad, target="Luna"), metadata=md)),
        ("Paths target", lambda: g.Paths(graph_pb2.PathsRequest(scope=alice, source="alice", target=bad), metadata=md)),
        ("ListGrants user", lambda: m.ListGrants(memory_pb2.ListGrantsRequest(user_id=bad), metadata=md)),
        (
            "ListGrants agents",
            lambda: m.ListGrants(
                memory_pb2.ListGrantsRequest(user_id="alice", owner_agent=bad, grantee_agent=bad), metadata=md
            ),
        ),
        (
            "RevokeAccess",
            lambda: m.RevokeAccess(
                memory_pb2.RevokeAccessRequest(user_id=bad, owner_agent=bad, grantee_agent="coach"), metadata=md
            ),
        ),
        ("Erase user", lambda: a.Erase(admin_pb2.EraseRequest(scope=scope(bad)), metadata=md)),
        ("ListApiKeys tenant", lambda: a.ListApiKeys(admin_pb2.ListApiKeysRequest(tenant=bad), metadata=md)),
        (
            "CreateApiKey tenant",
            lambda: a.CreateApiKey(admin_pb2.CreateApiKeyRequest(tenant=bad, name="x"), metadata=md),
        ),
        (
            "CreateApiKey tenant (bootstrap)",
            lambda: a.CreateApiKey(
                admin_pb2.CreateApiKeyRequest(tenant=bad.lower() + "!", name="x"), metadata=creds(w.s.bootstrap)
            ),
        ),
        ("RevokeApiKey id", lambda: a.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=bad), metadata=md)),
        (
            "RevokeApiKey id (bootstrap)",
            lambda: a.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=bad), metadata=creds(w.s.bootstrap)),
        ),
    ]
    for what, call in reads:
        out = attempt(call)
        allowed = ALLOWED | ({Code.PERMISSION_DENIED} if "ApiKey" in what else set())
        assert out.code in allowed, f"{what}: {out.code.name} {out.details}"
        w.assert_clean(out.response, what=what)
        if what.startswith("DeleteAll") and out.code == Code.OK:
            assert out.response.deleted_count == 0, what
        if what.startswith("Erase") and out.code == Code.OK:
            assert out.response.receipt.memories == 0, what
        if "ApiKey tenant" in what:
            assert out.code in (Code.INVALID_ARGUMENT, Code.PERMISSION_DENIED), f"{what}: {out.code.name}"

    # writes: the text, metadata, names and grants land as given (or are refused), in A only
    writes: list[tuple[str, Callable[[], Any]]] = [
        (
            "Add scope user",
            lambda: m.Add(
                memory_pb2.AddRequest(scope=scope(bad), messages=user_msg("note " + bad), infer=False), metadata=md
            ),
        ),
        (
            "Add content",
            lambda: m.Add(
                memory_pb2.AddRequest(scope=alice, messages=user_msg(bad), infer=False, metadata=struct({"k": bad})),
                metadata=md,
            ),
        ),
        (
            "Add inferred",
            lambda: m.Add(
                memory_pb2.AddRequest(
                    scope=alice,
                    messages=[memory_pb2.Message(role="user", content=f"My friend {bad} likes chess.", name=bad)],
                ),
                metadata=md,
            ),
        ),
        (
            "Add metadata key",
            lambda: m.Add(
                memory_pb2.AddRequest(
                    scope=alice, messages=user_msg("plain note"), infer=False, metadata=struct({bad: bad})
                ),
                metadata=md,
            ),
        ),
        (
            "Add role",
            lambda: m.Add(
                memory_pb2.AddRequest(
                    scope=alice, messages=[memory_pb2.Message(role=bad, content="hello")], infer=False
                ),
                metadata=md,
            ),
        ),
        (
            "Update text",
            lambda: m.Update(memory_pb2.UpdateRequest(scope=alice, memory_id=scratch, text=bad), metadata=md),
        ),
        (
            "Update metadata",
            lambda: m.Update(
                memory_pb2.UpdateRequest(
                    scope=alice, memory_id=scratch, text="chess again", metadata=struct({bad: bad, "k": bad})
                ),
                metadata=md,
            ),
        ),
        (
            "GrantAccess",
            lambda: m.GrantAccess(
                memory_pb2.GrantAccessRequest(user_id="alice", owner_agent=bad, grantee_agent="coach"), metadata=md
            ),
        ),
        (
            "CreateApiKey name",
            lambda: a.CreateApiKey(
                admin_pb2.CreateApiKeyRequest(name=bad, user_ids=[bad], agent_ids=[bad]), metadata=md
            ),
        ),
    ]
    for what, call in writes:
        out = attempt(call)
        assert out.code in ALLOWED, f"{what}: {out.code.name} {out.details}"
        if out.code != Code.OK:
            continue
        resp = out.response
        if what.startswith("Add"):
            for r in resp.results:
                w.a_ids[r.memory.id] = r.memory.scope.user_id
            w.assert_clean(resp, what=what)
            for r in resp.results:  # stored exactly as sent, and readable in its own scope only
                got = m.Get(memory_pb2.GetRequest(scope=r.memory.scope, memory_id=r.memory.id), metadata=md).memory
                assert got.text == r.memory.text and got.scope == r.memory.scope
            if what == "Add content":
                assert resp.results[0].memory.text == bad.strip() or bad.strip() in resp.results[0].memory.text
                assert resp.results[0].memory.metadata["k"] == bad
        elif what == "Update metadata":
            assert resp.memory.metadata[bad] == bad
        elif what == "CreateApiKey name":
            assert resp.key.tenant == TA
            a.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=resp.key.id), metadata=md)
        elif what == "GrantAccess":
            m.RevokeAccess(
                memory_pb2.RevokeAccessRequest(user_id="alice", owner_agent=bad, grantee_agent="coach"), metadata=md
            )

    # the stores are intact: every memory of A made before is still there, B is unchanged
    for mid, user in seed.items():
        got = attempt(
            lambda mid=mid, user=user: m.Get(memory_pb2.GetRequest(scope=scope(user), memory_id=mid), metadata=md)
        )
        assert got.code == Code.OK, f"tenant A's memory {mid} of {user} is gone: {got.details}"
    assert w.admin.Verify(admin_pb2.VerifyRequest(), metadata=md).consistent
    assert w.snapshot(TB) == before_b
    w.healthy()


# ------------------------------------------------------------------------------------------------
# Oversize and undecodable requests


def test_oversize_requests(world: World) -> None:
    w, md = world, creds(world.a_admin)
    limit = int(w.s.env.get("RECALLD_LIMITS_MAX_REQUEST_BYTES", "0") or 4 * 1024 * 1024)
    big = "x" * (limit + 1024)
    before = w.snapshot(TA)
    before_b = w.snapshot(TB)
    huge_add = memory_pb2.AddRequest(scope=scope("alice"), messages=user_msg(big), infer=False)
    for meta in (md, ()):  # refused before authentication too: nothing is parsed
        expect(lambda meta=meta: w.memory.Add(huge_add, metadata=meta), Code.RESOURCE_EXHAUSTED)
        expect(
            lambda meta=meta: w.memory.Search(memory_pb2.SearchRequest(scope=scope("alice"), query=big), metadata=meta),
            Code.RESOURCE_EXHAUSTED,
        )
        expect(
            lambda meta=meta: w.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(tenant=TB, name=big), metadata=meta),
            Code.RESOURCE_EXHAUSTED,
        )
    many = memory_pb2.AddRequest(scope=scope("alice"), messages=user_msg("hi") * 20000, infer=False)
    assert many.ByteSize() < limit
    assert attempt(lambda: w.memory.Add(many, metadata=md)).code in (Code.INVALID_ARGUMENT, Code.RESOURCE_EXHAUSTED)
    below = memory_pb2.SearchRequest(scope=scope("alice"), query="y" * (limit // 2))
    expect(lambda: w.memory.Search(below, metadata=md), Code.RESOURCE_EXHAUSTED, "limit")  # the query's own limit
    ids = [f"00000000-0000-4000-8000-{i:012x}" for i in range(1001)]
    assert attempt(
        lambda: w.memory.MarkUsed(memory_pb2.MarkUsedRequest(scope=scope("alice"), memory_ids=ids), metadata=md)
    ).code in (Code.INVALID_ARGUMENT, Code.RESOURCE_EXHAUSTED)
    assert attempt(
        lambda: list(w.memory.WatchOperations(memory_pb2.WatchOperationsRequest(operation_ids=ids[:101]), metadata=md))
    ).code in (Code.INVALID_ARGUMENT, Code.RESOURCE_EXHAUSTED)
    users = [f"u{i}" for i in range(1001)]
    assert (
        attempt(
            lambda: w.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(name="many", user_ids=users), metadata=md)
        ).code
        == Code.INVALID_ARGUMENT
    )
    assert w.snapshot(TA) == before
    assert w.snapshot(TB) == before_b
    w.healthy()


def _garbage() -> dict[str, bytes]:
    valid = memory_pb2.AddRequest(scope=scope("alice"), messages=user_msg("hello there")).SerializeToString()
    return {
        "random": b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8",
        "truncated": valid[: len(valid) // 2],
        "length overflow": b"\x0a\xff\xff\xff\xff\x0f" + b"a" * 8,
        "bad wire type": b"\x0f\x01\x02",
        "invalid utf-8 string": b"\x12\x02\xff\xfe",  # field 2 (a string in every request here)
        "deep nesting": b"\x0a\x02" * 200,
    }


MALFORMED_METHODS = (
    "/recalld.v1.MemoryService/Add",
    "/recalld.v1.MemoryService/Search",
    "/recalld.v1.MemoryService/Get",
    "/recalld.v1.GraphService/Subgraph",
    "/recalld.v1.AdminService/CreateApiKey",
    "/recalld.v1.AdminService/Erase",
)
# A request that does not decode: the guard's deserializer turns it into INVALID_ARGUMENT (with no
# traceback in the log), before authentication. Unary-stream methods too.
UNDECODABLE = (Code.INVALID_ARGUMENT,)


def test_malformed_request_bytes(world: World) -> None:
    w = world
    before = w.snapshot(TA)
    seen: dict[str, Code] = {}
    for method in MALFORMED_METHODS:
        raw = w.channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        for name, payload in _garbage().items():
            for md in (creds(w.a_admin), ()):
                out = attempt(lambda raw=raw, payload=payload, md=md: raw(payload, metadata=md, timeout=10))
                seen[f"{method} {name} {'key' if md else 'anonymous'}"] = out.code
                if out.code in UNDECODABLE:
                    continue
                # it decoded (protobuf is lenient about some of these): then it is judged as a request
                assert out.code in (Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.UNAUTHENTICATED), (method, name, out)
                assert md or out.code == Code.UNAUTHENTICATED, (method, name, out)
    stream = w.channel.unary_stream("/recalld.v1.MemoryService/WatchOperations", request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)  # fmt: skip
    assert attempt(lambda: stream(b"\xff\xff\xff", metadata=creds(w.a_admin), timeout=10)).code in UNDECODABLE
    bidi = w.channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                   request_serializer=lambda b: b, response_deserializer=lambda b: b)  # fmt: skip
    out = attempt(lambda: bidi(iter([b"\xff\xff\xff"]), metadata=creds(w.a_admin), timeout=10))
    assert out.code in (*UNDECODABLE, Code.UNKNOWN, Code.INTERNAL), out  # grpcio's own reflection servicer
    unknown = w.channel.unary_unary("/recalld.v1.MemoryService/Nope", request_serializer=lambda b: b)
    expect(lambda: unknown(b"", metadata=creds(w.a_admin), timeout=10), Code.UNIMPLEMENTED)
    expect(lambda: unknown(b""), Code.UNIMPLEMENTED)
    # a well-formed request of another type decodes as something else: judged, never INTERNAL
    other = admin_pb2.ListApiKeysRequest(tenant=TB, include_revoked=True).SerializeToString()
    for method in MALFORMED_METHODS:
        raw = w.channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        out = attempt(lambda raw=raw: raw(other, metadata=creds(w.a_admin), timeout=10))
        assert out.code in (Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.PERMISSION_DENIED, *UNDECODABLE), (method, out)
    w.healthy()
    assert w.memory.List(memory_pb2.ListRequest(scope=scope("alice")), metadata=creds(w.a_admin)).memories
    assert w.snapshot(TA) == before
