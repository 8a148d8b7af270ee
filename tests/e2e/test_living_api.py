"""Living memory over real gRPC on a real server process: asynchronous Add (acknowledged, then a
SIGKILL with work pending, restart: every acknowledged Add applied exactly once, in order),
WatchOperations, Profile, MarkUsed, and grants between agents."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from recalld.v1 import common_pb2, memory_pb2
from tests.e2e.conftest import Client
from tests.harness import ServerProcess

pytestmark = pytest.mark.e2e

USER = common_pb2.Scope(user_id="kim")


def _add_async(c: Client, text: str, scope: common_pb2.Scope = USER) -> str:
    r = c.memory.Add(
        memory_pb2.AddRequest(
            scope=scope, messages=[memory_pb2.Message(role="user", content=text)], mode=memory_pb2.ADD_MODE_ASYNC
        ),
        timeout=10,
    )
    assert r.operation_id and r.episode_id == r.operation_id and not r.results
    return r.operation_id


def _wait_done(c: Client, ids: list[str], timeout: float = 180.0) -> dict[str, memory_pb2.Operation]:
    last: dict[str, memory_pb2.Operation] = {}
    for chunk in (ids[i : i + 100] for i in range(0, len(ids), 100)):
        stream = c.memory.WatchOperations(memory_pb2.WatchOperationsRequest(operation_ids=chunk), timeout=timeout)
        for msg in stream:
            last[msg.operation.id] = msg.operation
    return last


def test_async_adds_survive_sigkill_and_apply_once_in_order(tmp_path: Path, fresh_backends: dict[str, str]) -> None:
    # A store shared by replicas (FalkorDB) waits for the dead worker's lease: keep it short here.
    env = {
        **fresh_backends,
        "RECALLD_ASYNC_ADD_WORKERS": "1",
        "RECALLD_RECONCILE_INTERVAL_S": "0",
        "RECALLD_ASYNC_ADD_LEASE_S": "3",
    }
    server = ServerProcess(tmp_path / "data", env=env).start()
    texts = [f"I finished lesson {i} of my Spanish course." for i in range(40)]
    try:
        c = Client(server.address)
        ids = [_add_async(c, t) for t in texts]  # acknowledged: durably recorded
        c.channel.close()
    finally:
        server.kill()  # SIGKILL with most of the backlog still pending
    server = ServerProcess(tmp_path / "data", env=env).start()
    try:
        c = Client(server.address)
        done = _wait_done(c, ids)
        assert {op.status for op in done.values()} == {memory_pb2.OPERATION_STATUS_SUCCEEDED}
        listed = c.memory.List(memory_pb2.ListRequest(scope=USER, page_size=1000), timeout=30).memories
        got = sorted(listed, key=lambda m: (m.created_at.ToDatetime(), m.id))
        assert [m.text for m in got] == texts  # nothing lost, nothing twice, in order
        assert sorted(m.episode_id for m in got) == sorted(ids)
        recovered = [op for op in done.values() if op.recovered]
        assert len(recovered) <= 1  # at most the one in flight at the kill
        with pytest.raises(grpc.RpcError) as err:
            c.memory.GetOperation(memory_pb2.GetOperationRequest(operation_id="nope"), timeout=5)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        c.channel.close()
    finally:
        server.stop()


def test_profile_mark_used_and_grants_over_grpc(client: Client) -> None:
    medic = common_pb2.Scope(user_id="lee", agent_id="medic")
    coach = common_pb2.Scope(user_id="lee", agent_id="coach")
    for text in ("I am allergic to penicillin.", "I am vegetarian."):
        client.memory.Add(
            memory_pb2.AddRequest(scope=medic, messages=[memory_pb2.Message(role="user", content=text)]), timeout=30
        )
    profile = client.memory.Profile(memory_pb2.ProfileRequest(scope=medic), timeout=30)
    values = {(a.name, a.value, a.multi_valued) for a in profile.attributes}
    assert values == {("allergies", "penicillin", True), ("diet", "vegetarian", False)}
    assert all(a.sources and a.sources[0].text for a in profile.attributes)

    levels = [common_pb2.LEVEL_USER, common_pb2.LEVEL_AGENT, common_pb2.LEVEL_SHARED]
    search = memory_pb2.SearchRequest(scope=coach, query="what is Lee allergic to?", levels=levels)
    assert not client.memory.Search(search, timeout=30).hits  # nothing private without a grant
    coach_profile = memory_pb2.ProfileRequest(scope=coach, levels=levels)
    assert not client.memory.Profile(coach_profile, timeout=30).attributes
    g = client.memory.GrantAccess(
        memory_pb2.GrantAccessRequest(user_id="lee", owner_agent="medic", grantee_agent="coach"), timeout=10
    ).grant
    assert g.id and not g.HasField("revoked_at")
    hits = client.memory.Search(search, timeout=30).hits
    assert hits and {h.level for h in hits} == {common_pb2.LEVEL_SHARED}
    assert 0 < hits[0].weight <= 1 and hits[0].score == pytest.approx(hits[0].relevance * hits[0].weight, rel=1e-5)
    assert len(client.memory.Profile(coach_profile, timeout=30).attributes) == 2
    used = client.memory.MarkUsed(memory_pb2.MarkUsedRequest(scope=coach, memory_ids=[hits[0].memory.id]), timeout=10)
    assert used.marked_count == 0  # the coach's scope filter does not contain the medic's memory
    used = client.memory.MarkUsed(memory_pb2.MarkUsedRequest(scope=medic, memory_ids=[hits[0].memory.id]), timeout=10)
    assert used.marked_count == 1
    client.memory.RevokeAccess(
        memory_pb2.RevokeAccessRequest(user_id="lee", owner_agent="medic", grantee_agent="coach"), timeout=10
    )
    assert not client.memory.Search(search, timeout=30).hits
    grants = client.memory.ListGrants(
        memory_pb2.ListGrantsRequest(user_id="lee", include_revoked=True), timeout=10
    ).grants
    assert [(x.grantee_agent, x.HasField("revoked_at")) for x in grants] == [("coach", True)]
    for bad in (
        memory_pb2.GrantAccessRequest(user_id="lee", owner_agent="medic", grantee_agent="medic"),
        memory_pb2.GrantAccessRequest(user_id="", owner_agent="medic", grantee_agent="coach"),
    ):
        with pytest.raises(grpc.RpcError) as err:
            client.memory.GrantAccess(bad, timeout=10)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        client.memory.Search(
            memory_pb2.SearchRequest(scope=common_pb2.Scope(user_id="lee"), query="x", levels=[99]), timeout=10
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_ttl_on_add_is_reported(client: Client) -> None:
    r = client.memory.Add(
        memory_pb2.AddRequest(
            scope=common_pb2.Scope(user_id="max"),
            messages=[memory_pb2.Message(role="user", content="My locker code is 4412.")],
            ttl={"seconds": 3600},
            importance=0.9,
        ),
        timeout=30,
    )
    m = r.results[0].memory
    assert m.expires_at.ToSeconds() - m.created_at.ToSeconds() in (3599, 3600)
    assert m.importance == pytest.approx(0.9)
    time.sleep(0)
