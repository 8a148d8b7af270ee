"""The gRPC API over a real server process on the embedded stores."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from recalld.v1 import admin_pb2, common_pb2, graph_pb2, memory_pb2
from tests.e2e.conftest import SEED, Client
from tests.harness import ServerProcess

pytestmark = pytest.mark.e2e


def scope(user: str) -> common_pb2.Scope:
    return common_pb2.Scope(user_id=user)


def new_user() -> str:
    return f"u-{uuid.uuid4().hex[:10]}"


def add(client: Client, user: str, *texts: str, **meta: object) -> list[str]:
    md = struct_pb2.Struct()
    md.update(meta)
    resp = client.memory.Add(
        memory_pb2.AddRequest(
            scope=scope(user), messages=[memory_pb2.Message(role="user", content=t) for t in texts], metadata=md
        )
    )
    return [r.memory.id for r in resp.results if r.event == memory_pb2.EVENT_ADD]


def count(client: Client, user: str) -> int:
    return len(client.memory.List(memory_pb2.ListRequest(scope=scope(user), page_size=1000)).memories)


def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code()  # type: ignore[no-any-return]


def test_health_and_reflection(server: ServerProcess, client: Client) -> None:
    health = health_pb2_grpc.HealthStub(client.channel)
    for svc in ("", "recalld.v1.MemoryService", "recalld.v1.GraphService"):
        assert health.Check(health_pb2.HealthCheckRequest(service=svc)).status == health_pb2.HealthCheckResponse.SERVING
    db = ProtoReflectionDescriptorDatabase(client.channel)
    services = set(db.get_services())
    assert {"recalld.v1.MemoryService", "recalld.v1.GraphService", "grpc.health.v1.Health"} <= services


def test_seed_scenario_search_returns_hits_with_graph_paths(client: Client) -> None:
    user = new_user()
    add(client, user, *SEED, source="walkthrough")
    resp = client.memory.Search(memory_pb2.SearchRequest(scope=scope(user), query="how is my pet's health?"))
    top = resp.hits[0]
    assert top.memory.text == "My cat Luna caught a cold last week."
    assert set(top.retrievers) == {memory_pb2.RETRIEVER_VECTOR, memory_pb2.RETRIEVER_GRAPH}
    assert f"{user} -has_pet-> Luna -catch-> cold" in [p.text for p in top.paths]
    assert top.memory.metadata["source"] == "walkthrough"
    assert top.HasField("vector_score")
    graph_only = client.memory.Search(
        memory_pb2.SearchRequest(
            scope=scope(user), query="how is my pet's health?", mode=memory_pb2.RETRIEVAL_MODE_GRAPH
        )
    )
    assert graph_only.hits[0].memory.id == top.memory.id
    assert not graph_only.hits[0].HasField("vector_score")


def test_scope_isolation_through_every_rpc(client: Client) -> None:
    alice, bob = new_user(), new_user()
    a_ids = add(client, alice, *SEED)
    add(client, bob, "I have a dog named Rex.")
    a_id = a_ids[0]
    b = scope(bob)
    hits = client.memory.Search(memory_pb2.SearchRequest(scope=b, query="cat Luna cold penicillin", limit=100)).hits
    assert {h.memory.scope.user_id for h in hits} == {bob}
    for mode in (memory_pb2.RETRIEVAL_MODE_GRAPH, memory_pb2.RETRIEVAL_MODE_VECTOR):
        hits = client.memory.Search(memory_pb2.SearchRequest(scope=b, query="Luna", mode=mode, limit=100)).hits
        assert a_id not in {h.memory.id for h in hits}
    listed = client.memory.List(memory_pb2.ListRequest(scope=b, page_size=1000)).memories
    assert [m.text for m in listed] == ["I have a dog named Rex."]
    assert (
        code_of(lambda: client.memory.Get(memory_pb2.GetRequest(scope=b, memory_id=a_id))) == grpc.StatusCode.NOT_FOUND
    )
    assert code_of(lambda: client.memory.History(memory_pb2.HistoryRequest(scope=b, memory_id=a_id))) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert (
        code_of(lambda: client.memory.Update(memory_pb2.UpdateRequest(scope=b, memory_id=a_id, text="hijacked")))
        == grpc.StatusCode.NOT_FOUND
    )
    assert code_of(lambda: client.memory.Delete(memory_pb2.DeleteRequest(scope=b, memory_id=a_id))) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert code_of(lambda: client.graph.Subgraph(graph_pb2.SubgraphRequest(scope=b, entity="Luna"))) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert code_of(lambda: client.graph.Paths(graph_pb2.PathsRequest(scope=b, source=alice, target="Luna"))) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert client.memory.DeleteAll(memory_pb2.DeleteAllRequest(scope=b)).deleted_count == 1
    # alice is untouched by everything bob did
    assert count(client, alice) == 4
    got = client.memory.Get(memory_pb2.GetRequest(scope=scope(alice), memory_id=a_id)).memory
    assert got.text == SEED[0]
    sub = client.graph.Subgraph(graph_pb2.SubgraphRequest(scope=scope(alice), entity="Luna"))
    assert {(e.subject, e.predicate, e.object) for e in sub.edges} >= {
        (alice, "has_pet", "Luna"),
        ("Luna", "catch", "cold"),
    }
    paths = client.graph.Paths(graph_pb2.PathsRequest(scope=scope(alice), source=alice, target="cold")).paths
    assert f"{alice} -has_pet-> Luna -catch-> cold" in [p.text for p in paths]


def test_get_update_history_delete_roundtrip(client: Client) -> None:
    user = new_user()
    (mid,) = add(client, user, "I live in Berlin.")
    s = scope(user)
    new = client.memory.Update(memory_pb2.UpdateRequest(scope=s, memory_id=mid, text="I live in Lisbon.")).memory
    assert new.text == "I live in Lisbon." and new.updated_at.ToDatetime() >= new.created_at.ToDatetime()
    client.memory.Delete(memory_pb2.DeleteRequest(scope=s, memory_id=mid))
    entries = client.memory.History(memory_pb2.HistoryRequest(scope=s, memory_id=mid)).entries
    assert [e.event for e in entries] == [memory_pb2.EVENT_ADD, memory_pb2.EVENT_UPDATE, memory_pb2.EVENT_DELETE]
    assert entries[1].old_text == "I live in Berlin." and entries[1].new_text == "I live in Lisbon."
    assert (
        code_of(lambda: client.memory.Get(memory_pb2.GetRequest(scope=s, memory_id=mid))) == grpc.StatusCode.NOT_FOUND
    )


def test_bad_input_gets_clear_status_and_writes_nothing(client: Client) -> None:
    user = new_user()
    add(client, user, "I'm allergic to penicillin.")
    s = scope(user)
    ok_msg = [memory_pb2.Message(role="user", content="I like green tea.")]
    cases = {
        "missing scope": (memory_pb2.AddRequest(messages=ok_msg), grpc.StatusCode.INVALID_ARGUMENT, "scope"),
        "empty messages": (memory_pb2.AddRequest(scope=s), grpc.StatusCode.INVALID_ARGUMENT, "messages"),
        "blank content": (
            memory_pb2.AddRequest(scope=s, messages=[memory_pb2.Message(role="user", content=" ")]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "empty",
        ),
        "oversized message": (
            memory_pb2.AddRequest(scope=s, messages=[memory_pb2.Message(role="user", content="a" * 3000)]),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "limit",
        ),
        "oversized request": (
            memory_pb2.AddRequest(scope=s, messages=[memory_pb2.Message(role="user", content="b" * 300_000)]),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "",
        ),
    }
    for name, (req, code, words) in cases.items():
        with pytest.raises(grpc.RpcError) as info:
            client.memory.Add(req)
        assert info.value.code() == code, name
        assert words in info.value.details(), (name, info.value.details())
    assert count(client, user) == 1  # no partial write from any failed call

    bad_filter = memory_pb2.MetadataFilter(key='x"] or true', op=memory_pb2.FILTER_OP_EQ, value=struct_pb2.Value())
    bad_filter.value.string_value = "v"
    unset_op = memory_pb2.MetadataFilter(key="topic")
    unset_op.value.string_value = "v"
    invalid = [
        lambda: client.memory.Search(memory_pb2.SearchRequest(query="x")),
        lambda: client.memory.Search(memory_pb2.SearchRequest(scope=s, query="")),
        lambda: client.memory.Search(memory_pb2.SearchRequest(scope=s, query="x", limit=101)),
        lambda: client.memory.Search(memory_pb2.SearchRequest(scope=s, query="x", threshold=2)),
        lambda: client.memory.Search(memory_pb2.SearchRequest(scope=s, query="x", filters=[bad_filter])),
        lambda: client.memory.Search(memory_pb2.SearchRequest(scope=s, query="x", filters=[unset_op])),
        lambda: client.memory.Get(memory_pb2.GetRequest(scope=s, memory_id="not-an-id")),
        lambda: client.memory.List(memory_pb2.ListRequest(scope=s, page_token="%%%")),
        lambda: client.memory.DeleteAll(memory_pb2.DeleteAllRequest()),
        lambda: client.graph.Subgraph(graph_pb2.SubgraphRequest(scope=s, entity="")),
        lambda: client.graph.Subgraph(graph_pb2.SubgraphRequest(scope=s, entity="x", depth=9)),
    ]
    for call in invalid:
        assert code_of(call) == grpc.StatusCode.INVALID_ARGUMENT
    unknown = str(uuid.uuid4())
    for call in (
        lambda: client.memory.Get(memory_pb2.GetRequest(scope=s, memory_id=unknown)),
        lambda: client.memory.Delete(memory_pb2.DeleteRequest(scope=s, memory_id=unknown)),
        lambda: client.memory.History(memory_pb2.HistoryRequest(scope=s, memory_id=unknown)),
        lambda: client.memory.Update(memory_pb2.UpdateRequest(scope=s, memory_id=unknown, text="x")),
    ):
        assert code_of(call) == grpc.StatusCode.NOT_FOUND
    assert count(client, user) == 1
    # the server is still healthy after all of that
    assert client.admin.Verify(admin_pb2.VerifyRequest()).consistent


def test_filter_values_cannot_escape_the_expression(client: Client) -> None:
    alice, mallory = new_user(), new_user()
    add(client, alice, "I'm allergic to penicillin.", topic="health")
    add(client, mallory, "I like chess.", topic="games")
    for payload in ['x" or user_id != "', 'x\\" or true or \\"', 'health" || true || "']:
        f = memory_pb2.MetadataFilter(key="topic", op=memory_pb2.FILTER_OP_EQ)
        f.value.string_value = payload
        for mode in (memory_pb2.RETRIEVAL_MODE_VECTOR, memory_pb2.RETRIEVAL_MODE_HYBRID):
            resp = client.memory.Search(
                memory_pb2.SearchRequest(scope=scope(mallory), query="allergy", filters=[f], mode=mode)
            )
            assert list(resp.hits) == []
