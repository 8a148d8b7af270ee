"""Property-based tenant isolation (issue 10, item 7): random sequences of requests across two
tenants of one real server never answer one tenant with the other's data.

Both tenants use the same user names; every text a tenant writes carries its own marker word.
Requests take memory ids from what the same tenant or the OTHER tenant created. Invariants, on every
response: each memory id is one the calling tenant created, no string carries the other tenant's
marker, and every error is one of the statuses the request may legitimately get (an id of the other
tenant is always NOT_FOUND); never INTERNAL or UNKNOWN.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recalld.v1 import common_pb2, graph_pb2, graph_pb2_grpc, memory_pb2, memory_pb2_grpc
from tests.e2e.conftest import LIMITS
from tests.e2e.secure import SecureServer

pytestmark = pytest.mark.e2e

Code = grpc.StatusCode
TENANTS = ("prop-a", "prop-b")
MARKER = {"prop-a": "amberfox", "prop-b": "bluecrane"}
USERS = ("alice", "bob", "carol")
AGENTS = ("", "tutor")
NAMES = ("Luna", "Rex", "Milo", "Oslo", "Paris", "chess", "tea", "penicillin")
TEMPLATES = (
    "My cat {name} is friends with {marker}.",
    "I moved to {name} with {marker}.",
    "I am allergic to {name}, {marker} says.",
    "{marker} and I play {name} on Sundays.",
)
MODES = (memory_pb2.RETRIEVAL_MODE_HYBRID, memory_pb2.RETRIEVAL_MODE_VECTOR, memory_pb2.RETRIEVAL_MODE_GRAPH)


def other(tenant: str) -> str:
    return TENANTS[1 - TENANTS.index(tenant)]


@dataclass
class Cluster:
    s: SecureServer
    channel: grpc.Channel
    memory: memory_pb2_grpc.MemoryServiceStub
    graph: graph_pb2_grpc.GraphServiceStub
    tokens: dict[tuple[str, bool], str] = field(default_factory=dict)  # (tenant, jwt?) -> token
    created: dict[str, dict[str, str]] = field(default_factory=lambda: {t: {} for t in TENANTS})  # id -> user
    calls: dict[str, int] = field(default_factory=dict)  # "Method CODE" -> count, for the report

    def md(self, tenant: str, via_jwt: bool) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.tokens[(tenant, via_jwt)]}"),)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root: Path = tmp_path_factory.mktemp("tenant-properties")
    with SecureServer(root, env=LIMITS) as s:
        channel = grpc.insecure_channel(s.address)
        c = Cluster(s, channel, memory_pb2_grpc.MemoryServiceStub(channel), graph_pb2_grpc.GraphServiceStub(channel))
        for t in TENANTS:
            c.tokens[(t, False)] = s.key(t, "write")
            c.tokens[(t, True)] = s.jwt(tenant=t, role="write", exp=2**31 - 1)
        try:
            yield c
        finally:
            channel.close()
            print("\ncalls:", json.dumps(dict(sorted(c.calls.items()))))


# ------------------------------------------------------------------------------------------------
# Strategies: one request each; memory ids are picked when the request runs (from the pool of the
# calling tenant or of the other one), so that examples stay replayable and shrinkable.

tenant_st = st.sampled_from(TENANTS)
user_st = st.sampled_from(USERS)
agent_st = st.sampled_from(AGENTS)
cred_st = st.booleans()  # True: a JWT of the tenant; False: its API key
pick_st = st.tuples(st.integers(0, 10_000), st.booleans(), st.booleans())  # index, from the other tenant, own user

add_st = st.tuples(
    st.just("Add"),
    tenant_st,
    cred_st,
    user_st,
    agent_st,
    st.sampled_from(TEMPLATES),
    st.sampled_from(NAMES),
    st.booleans(),
)
search_st = st.tuples(
    st.just("Search"),
    tenant_st,
    cred_st,
    user_st,
    agent_st,
    st.sampled_from(NAMES),
    st.sampled_from(("own", "other", "both")),
    st.sampled_from(MODES),
    st.booleans(),
)
ops_st = st.one_of(
    add_st,
    add_st,  # twice as many Adds and Searches: more to find, more ways to find it
    search_st,
    search_st,
    st.tuples(st.just("Get"), tenant_st, cred_st, user_st, pick_st),
    st.tuples(st.just("History"), tenant_st, cred_st, user_st, pick_st),
    st.tuples(st.just("Update"), tenant_st, cred_st, user_st, pick_st, st.sampled_from(NAMES)),
    st.tuples(st.just("Delete"), tenant_st, cred_st, user_st, pick_st),
    st.tuples(st.just("MarkUsed"), tenant_st, cred_st, user_st, pick_st),
    st.tuples(st.just("List"), tenant_st, cred_st, user_st, agent_st, st.booleans()),
    st.tuples(st.just("Profile"), tenant_st, cred_st, user_st),
    st.tuples(st.just("Subgraph"), tenant_st, cred_st, user_st,
              st.sampled_from((*NAMES, *USERS, *MARKER.values())), st.booleans()),
)  # fmt: skip


def scope(user: str, agent: str = "") -> common_pb2.Scope:
    return common_pb2.Scope(user_id=user, agent_id=agent)


def ids_and_strings(resp: Any) -> tuple[set[str], list[str]]:
    """Every memory id (memories, edges, history, results) and every string of a response."""
    ids: set[str] = set()
    strings: list[str] = []

    def walk(msg: Any) -> None:
        if msg.DESCRIPTOR.full_name == "recalld.v1.Memory":
            ids.add(msg.id)
        for fd, val in msg.ListFields():
            for item in val if fd.is_repeated else [val]:
                if fd.message_type is None:
                    if isinstance(item, str):
                        strings.append(item)
                        if fd.name in ("memory_id", "superseded_by", "related_ids") and item:
                            ids.add(item)
                elif fd.message_type.full_name == "google.protobuf.Struct":
                    strings.append(json.dumps(dict(item)))
                else:
                    walk(item)

    walk(resp)
    return ids, strings


def pick(c: Cluster, tenant: str, user: str, choice: tuple[int, bool, bool]) -> tuple[str, str, bool]:
    """(memory id, scope user, whether the id is the other tenant's)."""
    index, from_other, own_user = choice
    owner = other(tenant) if from_other else tenant
    pool = sorted(c.created[owner].items())
    if not pool:
        return str(uuid.uuid4()), user, False
    mid, mid_user = pool[index % len(pool)]
    return mid, (mid_user if own_user else user), from_other


def run(c: Cluster, op: tuple[Any, ...]) -> None:
    kind, tenant, via_jwt = op[0], op[1], op[2]
    md = c.md(tenant, via_jwt)
    m, mine, theirs = c.memory, MARKER[tenant], MARKER[other(tenant)]
    foreign = False
    allowed = {Code.OK}
    if kind == "Add":
        _, _, _, user, agent, template, name, infer = op
        text = template.format(name=name, marker=mine)
        call = lambda: m.Add(memory_pb2.AddRequest(scope=scope(user, agent), infer=infer,  # noqa: E731
                                                   messages=[memory_pb2.Message(role="user", content=text)],
                                                   metadata=struct_pb2.Struct()), metadata=md)  # fmt: skip
    elif kind == "Search":
        _, _, _, user, agent, name, which, mode, retired = op
        words = {"own": [mine], "other": [theirs], "both": [mine, theirs]}[which]
        req = memory_pb2.SearchRequest(scope=scope(user, agent), query=" ".join([name, *words]), limit=50, mode=mode,
                                       include_retired=retired)  # fmt: skip
        call = lambda: m.Search(req, metadata=md)  # noqa: E731
    elif kind in ("Get", "History", "Update", "Delete", "MarkUsed"):
        user, choice = op[3], op[4]
        mid, scope_user, foreign = pick(c, tenant, user, choice)
        sc = scope(scope_user)
        allowed = {Code.OK, Code.NOT_FOUND}
        if kind == "Get":
            call = lambda: m.Get(memory_pb2.GetRequest(scope=sc, memory_id=mid), metadata=md)  # noqa: E731
        elif kind == "History":
            call = lambda: m.History(memory_pb2.HistoryRequest(scope=sc, memory_id=mid), metadata=md)  # noqa: E731
        elif kind == "Update":
            text = f"I now like {op[5]} with {mine}."
            call = lambda: m.Update(memory_pb2.UpdateRequest(scope=sc, memory_id=mid, text=text), metadata=md)  # noqa: E731
        elif kind == "Delete":
            call = lambda: m.Delete(memory_pb2.DeleteRequest(scope=sc, memory_id=mid), metadata=md)  # noqa: E731
        else:
            allowed = {Code.OK}
            call = lambda: m.MarkUsed(memory_pb2.MarkUsedRequest(scope=sc, memory_ids=[mid]), metadata=md)  # noqa: E731
    elif kind == "List":
        _, _, _, user, agent, current = op
        req_l = memory_pb2.ListRequest(scope=scope(user, agent), page_size=1000, current_only=current)
        call = lambda: m.List(req_l, metadata=md)  # noqa: E731
    elif kind == "Profile":
        call = lambda: m.Profile(memory_pb2.ProfileRequest(scope=scope(op[3])), metadata=md)  # noqa: E731
    else:
        _, _, _, user, entity, retired = op
        req_g = graph_pb2.SubgraphRequest(scope=scope(user), entity=entity, depth=3,
                                          validity=graph_pb2.ValidityFilter(include_retired=retired))  # fmt: skip
        allowed = {Code.OK, Code.NOT_FOUND}
        call = lambda: c.graph.Subgraph(req_g, metadata=md)  # noqa: E731

    try:
        resp, code, details = call(), Code.OK, ""
    except grpc.RpcError as exc:
        resp, code, details = None, exc.code(), exc.details()
    c.calls[f"{kind} {code.name}"] = c.calls.get(f"{kind} {code.name}", 0) + 1
    assert code in allowed, f"{tenant} {op}: {code.name} {details}"
    if foreign:
        if kind == "MarkUsed":
            assert resp is not None and resp.marked_count == 0, f"{tenant} {op}: marked the other tenant's memory"
        else:
            assert code == Code.NOT_FOUND, f"{tenant} {op}: the other tenant's memory answered {code.name}"
    if resp is None:
        return
    if kind == "Add":  # what it made is this tenant's from now on
        for r in resp.results:
            if r.memory.id and r.memory.id not in c.created[other(tenant)]:
                c.created[tenant].setdefault(r.memory.id, r.memory.scope.user_id)
    ids, strings = ids_and_strings(resp)
    leaked = ids & set(c.created[other(tenant)])
    assert not leaked, f"{tenant} {op}: answered with the other tenant's memories {leaked}"
    unknown = ids - set(c.created[tenant])
    assert not unknown, f"{tenant} {op}: answered with memories it never made {unknown}"
    for s in strings:
        assert theirs not in s.lower(), f"{tenant} {op}: answered with the other tenant's text {s!r}"


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=st.lists(ops_st, min_size=5, max_size=30))
def test_no_response_carries_the_other_tenants_data(cluster: Cluster, ops: list[tuple[Any, ...]]) -> None:
    for op in ops:
        run(cluster, op)


def test_after_the_run_each_tenant_holds_only_its_own(cluster: Cluster) -> None:
    """Read back everything through each tenant's key: only its own memories and marker (the
    property test ran first in this module; run alone this checks an empty pair of tenants)."""
    for tenant in TENANTS:
        md = cluster.md(tenant, False)
        theirs = MARKER[other(tenant)]
        for user in USERS:
            listed = cluster.memory.List(memory_pb2.ListRequest(scope=scope(user), page_size=1000), metadata=md)
            ids, strings = ids_and_strings(listed)
            assert ids <= set(cluster.created[tenant])
            assert not any(theirs in s.lower() for s in strings)
