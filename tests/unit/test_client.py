"""recalld.client: conversions both ways (pure), error translation, and the wire behaviour against a
real in-process gRPC server whose answers the test scripts: retries (UNAVAILABLE only, with
backoff), deadlines, headers and call credentials, pagination, and the blocking wrapper."""

from __future__ import annotations

import asyncio
import pickle
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from recalld.client import (
    AsyncRecalld,
    Conflict,
    DeadlineExceeded,
    Filter,
    Internal,
    InvalidArgument,
    Message,
    NotFound,
    PermissionDenied,
    Recalld,
    RecalldError,
    ResourceExhausted,
    RetryPolicy,
    Unauthenticated,
    Unavailable,
)
from recalld.client import _convert as conv
from recalld.client._errors import from_rpc_error
from recalld.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    graph_pb2,
    graph_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
)

WHEN = datetime(2024, 3, 1, 12, 30, 5, 250000, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, initial_backoff=0.001, max_backoff=0.01)


def _memory(mid: str = "m1", text: str = "Luna is a Siamese.") -> common_pb2.Memory:
    m = common_pb2.Memory(id=mid, text=text, scope=common_pb2.Scope(user_id="alice"), episode_id="e1", version=3)
    m.metadata.update({"topic": "pets", "n": 2, "ratio": 0.5, "tags": ["a", 1], "nested": {"ok": True}})
    for ts in (m.created_at, m.updated_at, m.reference_time):
        ts.FromDatetime(WHEN)
    m.triples.add(subject="Luna", predicate="is_a", object="Siamese", subject_type="animal", object_type="concept")
    m.state = common_pb2.MEMORY_STATE_ACTIVE
    return m


# -- conversions, Python -> requests --------------------------------------------------------------


def test_messages_accept_str_lists_dicts_and_message_objects() -> None:
    def shape(value: Any) -> list[tuple[str, str, str]]:
        return [(m.role, m.content, m.name) for m in conv.messages(value)]

    assert shape("I have a cat.") == [("user", "I have a cat.", "")]
    assert shape(["a", "b"]) == [("user", "a", ""), ("user", "b", "")]
    assert shape([{"role": "assistant", "content": "Hi!"}, {"content": "x", "name": "al"}]) == [
        ("assistant", "Hi!", ""),
        ("user", "x", "al"),
    ]
    assert shape(Message("Hi", role="system")) == [("system", "Hi", "")]
    assert shape({"role": "user", "content": "one dict"}) == [("user", "one dict", "")]
    with pytest.raises(ValueError, match=r"messages\[1\].*content"):
        conv.messages(["ok", {"role": "user"}])
    with pytest.raises(ValueError, match="unknown keys"):
        conv.messages([{"content": "x", "speaker": "al"}])
    with pytest.raises(ValueError, match="pass str, dict or Message"):
        conv.messages([42])  # type: ignore[list-item]


def test_filters_from_dicts_objects_and_tuples() -> None:
    msgs = conv.filters({"topic": "health", "n": 3})
    assert [(f.key, f.op, json_format.MessageToDict(f.value)) for f in msgs] == [
        ("topic", memory_pb2.FILTER_OP_EQ, "health"),
        ("n", memory_pb2.FILTER_OP_EQ, 3),
    ]
    ops = ["eq", "ne", "gt", "gte", "lt", "lte"]
    msgs = conv.filters([Filter("n", op, 1) for op in ops] + [("tags", "in", ("a", "b"))])  # type: ignore[arg-type]
    assert [f.op for f in msgs] == [
        memory_pb2.FILTER_OP_EQ,
        memory_pb2.FILTER_OP_NE,
        memory_pb2.FILTER_OP_GT,
        memory_pb2.FILTER_OP_GTE,
        memory_pb2.FILTER_OP_LT,
        memory_pb2.FILTER_OP_LTE,
        memory_pb2.FILTER_OP_IN,
    ]
    assert json_format.MessageToDict(msgs[-1].value) == ["a", "b"]
    assert msgs[0].value.WhichOneof("kind") == "number_value"
    assert conv.filters(None) == [] and conv.filters({}) == []
    flag = conv.filters({"done": True})[0].value
    assert flag.WhichOneof("kind") == "bool_value"  # a bool is not the number 1

    for bad, words in [
        ([("k", "like", "x")], "not one of"),
        ([("k", "eq")], "expected Filter"),
        ([Filter("", "eq", 1)], "non-empty"),
        ([Filter("k", "in", "ab")], "needs a list"),
        ("topic=x", "not a string"),
        ({"k": object()}, "not JSON-like"),
    ]:
        with pytest.raises(ValueError, match=words):
            conv.filters(bad)  # type: ignore[arg-type]


def test_metadata_times_scope_and_mode_to_messages() -> None:
    s = conv.struct({"source": "intake", "n": 2, "x": 1.5, "ok": False, "none": None, "l": [1, "a"], "d": {"k": 1}})
    assert json_format.MessageToDict(s) == {
        "source": "intake",
        "n": 2,
        "x": 1.5,
        "ok": False,
        "none": None,
        "l": [1, "a"],
        "d": {"k": 1},
    }
    with pytest.raises(ValueError, match=r"metadata\['when'\].*datetime"):
        conv.struct({"when": WHEN})
    with pytest.raises(ValueError, match="keys must be strings"):
        conv.struct({1: "x"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="finite"):
        conv.struct({"x": float("nan")})
    with pytest.raises(ValueError, match="must be a dict"):
        conv.struct(["not", "a", "dict"])  # type: ignore[arg-type]

    berlin = timezone(timedelta(hours=2))
    ts = conv.timestamp(datetime(2024, 3, 1, 14, 30, tzinfo=berlin))
    assert ts.ToDatetime(tzinfo=UTC) == datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="time zone"):
        conv.timestamp(datetime(2024, 1, 1))

    assert conv.scope(agent_id="tutor") == common_pb2.Scope(agent_id="tutor")
    with pytest.raises(ValueError, match="scope"):
        conv.scope()
    assert conv.mode("vector") == memory_pb2.RETRIEVAL_MODE_VECTOR
    with pytest.raises(ValueError, match="not one of"):
        conv.mode("semantic")


# -- conversions, responses -> Python -------------------------------------------------------------


def test_memory_becomes_a_frozen_dataclass_of_plain_values() -> None:
    m = conv.memory(_memory())
    assert (m.id, m.text, m.user_id, m.agent_id, m.run_id) == ("m1", "Luna is a Siamese.", "alice", "", "")
    assert (m.state, m.episode_id, m.version) == ("active", "e1", 3)
    assert m.created_at == m.updated_at == m.reference_time == WHEN and m.created_at.tzinfo is not None
    assert m.metadata == {"topic": "pets", "n": 2, "ratio": 0.5, "tags": ["a", 1], "nested": {"ok": True}}
    assert type(m.metadata["n"]) is int and type(m.metadata["tags"][1]) is int  # not 2.0: what the caller stored
    assert m.triples[0].subject == "Luna" and m.triples[0].object_type == "concept"
    with pytest.raises(FrozenInstanceError):
        m.text = "changed"  # type: ignore[misc]
    deleted = _memory()
    deleted.state = common_pb2.MEMORY_STATE_DELETED
    assert conv.memory(deleted).state == "deleted"


def test_responses_become_plain_values() -> None:
    resp = memory_pb2.SearchResponse()
    hit = resp.hits.add(memory=_memory(), score=0.75, vector_score=0.5)
    hit.retrievers.extend([memory_pb2.RETRIEVER_VECTOR, memory_pb2.RETRIEVER_GRAPH])
    hit.paths.add(start="alice", text="alice -has_pet-> Luna").edges.add(
        subject="alice", predicate="has_pet", object="Luna", memory_id="m1"
    )
    resp.hits.add(memory=_memory("m2"), score=0.1, retrievers=[memory_pb2.RETRIEVER_GRAPH])
    first, second = conv.hits(resp)
    assert first.retrievers == ("vector", "graph") and first.vector_score == 0.5 and first.score == 0.75
    assert first.paths[0].text == "alice -has_pet-> Luna" and first.paths[0].edges[0].memory_id == "m1"
    assert second.vector_score is None and second.retrievers == ("graph",)  # unset, not 0.0

    add = conv.add_result(
        memory_pb2.AddResponse(
            episode_id="e9",
            results=[
                memory_pb2.MemoryResult(memory=_memory("a"), event=memory_pb2.EVENT_ADD),
                memory_pb2.MemoryResult(memory=_memory("b"), event=memory_pb2.EVENT_NOOP),
            ],
        )
    )
    assert add.episode_id == "e9" and [e.event for e in add.events] == ["add", "noop"]
    assert [m.id for m in add.added] == ["a"]

    entries = memory_pb2.HistoryResponse()
    for event in (memory_pb2.EVENT_ADD, memory_pb2.EVENT_UPDATE, memory_pb2.EVENT_DELETE):
        e = entries.entries.add(memory_id="m1", event=event, old_text="o", new_text="n")
        e.at.FromDatetime(WHEN)
    history = conv.history(entries)
    assert [h.event for h in history] == ["add", "update", "delete"] and history[0].at == WHEN

    sub = conv.subgraph(
        graph_pb2.SubgraphResponse(
            entities=[graph_pb2.Entity(name="Luna", type="animal")],
            edges=[common_pb2.Edge(subject="alice", predicate="has_pet", object="Luna", memory_id="m1")],
        )
    )
    assert sub.entities[0].name == "Luna" and sub.edges[0].predicate == "has_pet"
    page = conv.page(memory_pb2.ListResponse(memories=[_memory("x")], next_page_token="t"))
    assert [m.id for m in page.memories] == ["x"] and page.next_page_token == "t"
    report = conv.verify_report(admin_pb2.VerifyResponse(memories=2, vectors=1, missing_vectors=["m2"]))
    assert (report.memories, report.vectors, report.missing_vectors, report.consistent) == (2, 1, ("m2",), False)


# -- error translation ----------------------------------------------------------------------------


class _FakeRpcError(grpc.RpcError):
    """The two methods of a failed call the client reads."""

    def __init__(self, code: grpc.StatusCode, details: str | None) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str | None:
        return self._details


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgument),
        (grpc.StatusCode.NOT_FOUND, NotFound),
        (grpc.StatusCode.ABORTED, Conflict),
        (grpc.StatusCode.PERMISSION_DENIED, PermissionDenied),
        (grpc.StatusCode.UNAUTHENTICATED, Unauthenticated),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhausted),
        (grpc.StatusCode.UNAVAILABLE, Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceeded),
        (grpc.StatusCode.INTERNAL, Internal),
        (grpc.StatusCode.UNKNOWN, Internal),
        (grpc.StatusCode.DATA_LOSS, Internal),
        (grpc.StatusCode.UNIMPLEMENTED, Internal),
    ],
)
def test_each_status_becomes_its_exception(code: grpc.StatusCode, error: type[RecalldError]) -> None:
    exc = from_rpc_error(_FakeRpcError(code, "memory m1 not in scope"))
    assert type(exc) is error and isinstance(exc, RecalldError)
    assert exc.code is code  # the status received, also when the class is the fallback
    assert exc.message == exc.details == "memory m1 not in scope"
    assert str(exc) == f"{code.name}: memory m1 not in scope"
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is error and again.code is code and again.message == exc.message


def test_an_error_without_details_still_says_what_happened() -> None:
    exc = from_rpc_error(_FakeRpcError(grpc.StatusCode.UNAVAILABLE, None))
    assert isinstance(exc, Unavailable) and exc.message == "unavailable"
    assert isinstance(from_rpc_error(grpc.RpcError()), Internal)  # no code() at all: UNKNOWN


def test_retry_policy_backs_off_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.initial_backoff, policy.max_backoff, policy.multiplier) == (4, 0.1, 2.0, 2.0)
    assert [policy.backoff(n) for n in range(1, 8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert policy.backoff(10_000) == 2.0  # no overflow
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="multiplier"):
        RetryPolicy(multiplier=0.5)


# -- a real in-process server ---------------------------------------------------------------------


class Scripted(memory_pb2_grpc.MemoryServiceServicer, graph_pb2_grpc.GraphServiceServicer):
    """Every RPC records (name, request, headers, seconds left) and first fails with the scripted
    statuses, one per call, after an optional delay."""

    def __init__(self) -> None:
        self.failures: list[grpc.StatusCode] = []
        self.calls: list[tuple[str, Any, dict[str, str], float | None]] = []
        self.delay = 0.0
        self.pages = 3

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    async def _step(self, name: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        headers = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        self.calls.append((name, request, headers, context.time_remaining()))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            code = self.failures.pop(0)
            await context.abort(code, f"scripted {code.name.lower()}")

    async def Add(self, request: memory_pb2.AddRequest, context: grpc.aio.ServicerContext) -> memory_pb2.AddResponse:
        await self._step("Add", request, context)
        return memory_pb2.AddResponse(
            episode_id="e1", results=[memory_pb2.MemoryResult(memory=_memory(), event=memory_pb2.EVENT_ADD)]
        )

    async def Search(
        self, request: memory_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.SearchResponse:
        await self._step("Search", request, context)
        hit = memory_pb2.SearchHit(memory=_memory(), score=0.75, vector_score=0.5)
        hit.retrievers.extend([memory_pb2.RETRIEVER_VECTOR, memory_pb2.RETRIEVER_GRAPH])
        return memory_pb2.SearchResponse(hits=[hit, memory_pb2.SearchHit(memory=_memory("m2"), score=0.1)])

    async def Get(self, request: memory_pb2.GetRequest, context: grpc.aio.ServicerContext) -> memory_pb2.GetResponse:
        await self._step("Get", request, context)
        return memory_pb2.GetResponse(memory=_memory(request.memory_id))

    async def List(self, request: memory_pb2.ListRequest, context: grpc.aio.ServicerContext) -> memory_pb2.ListResponse:
        await self._step("List", request, context)
        page = int(request.page_token or "0")
        token = str(page + 1) if page + 1 < self.pages else ""
        return memory_pb2.ListResponse(memories=[_memory(f"p{page}-{i}") for i in range(2)], next_page_token=token)

    async def Update(
        self, request: memory_pb2.UpdateRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.UpdateResponse:
        await self._step("Update", request, context)
        return memory_pb2.UpdateResponse(memory=_memory(request.memory_id, request.text))

    async def Delete(
        self, request: memory_pb2.DeleteRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.DeleteResponse:
        await self._step("Delete", request, context)
        return memory_pb2.DeleteResponse()

    async def DeleteAll(
        self, request: memory_pb2.DeleteAllRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.DeleteAllResponse:
        await self._step("DeleteAll", request, context)
        return memory_pb2.DeleteAllResponse(deleted_count=7)

    async def History(
        self, request: memory_pb2.HistoryRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.HistoryResponse:
        await self._step("History", request, context)
        entry = memory_pb2.HistoryEntry(memory_id=request.memory_id, event=memory_pb2.EVENT_UPDATE, new_text="n")
        entry.at.FromDatetime(WHEN)
        return memory_pb2.HistoryResponse(entries=[entry])

    async def Subgraph(
        self, request: graph_pb2.SubgraphRequest, context: grpc.aio.ServicerContext
    ) -> graph_pb2.SubgraphResponse:
        await self._step("Subgraph", request, context)
        return graph_pb2.SubgraphResponse(entities=[graph_pb2.Entity(name=request.entity, type="animal")])

    async def Paths(
        self, request: graph_pb2.PathsRequest, context: grpc.aio.ServicerContext
    ) -> graph_pb2.PathsResponse:
        await self._step("Paths", request, context)
        return graph_pb2.PathsResponse(paths=[common_pb2.GraphPath(start=request.source, text="a -r-> b")])


class ScriptedAdmin(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, script: Scripted) -> None:
        self.script = script

    async def Verify(self, request: admin_pb2.VerifyRequest, context: grpc.aio.ServicerContext) -> Any:
        await self.script._step("Verify", request, context)
        return admin_pb2.VerifyResponse(memories=3, vectors=3, consistent=True)

    async def Reindex(self, request: admin_pb2.ReindexRequest, context: grpc.aio.ServicerContext) -> Any:
        await self.script._step("Reindex", request, context)
        return admin_pb2.ReindexResponse(upserted=2 if request.full else 1, deleted=1)


class ServerThread:
    """A grpc.aio server on its own event loop thread, so blocking and asyncio tests share it."""

    def __init__(self, server_credentials: grpc.ServerCredentials | None = None) -> None:
        self.script = Scripted()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start() -> tuple[grpc.aio.Server, int]:
            server = grpc.aio.server()
            memory_pb2_grpc.add_MemoryServiceServicer_to_server(self.script, server)
            graph_pb2_grpc.add_GraphServiceServicer_to_server(self.script, server)
            admin_pb2_grpc.add_AdminServiceServicer_to_server(ScriptedAdmin(self.script), server)
            if server_credentials is None:
                port = server.add_insecure_port("127.0.0.1:0")
            else:
                port = server.add_secure_port("127.0.0.1:0", server_credentials)
            await server.start()
            return server, port

        self.server, port = asyncio.run_coroutine_threadsafe(start(), self.loop).result()
        self.address = f"127.0.0.1:{port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(None), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@pytest.fixture
def srv() -> Iterator[ServerThread]:
    s = ServerThread()
    try:
        yield s
    finally:
        s.stop()


async def test_every_verb_sends_the_request_its_arguments_describe(srv: ServerThread) -> None:
    async with AsyncRecalld(srv.address, retry=FAST) as client:
        result = await client.add(
            [
                "I have a cat.",
                Message("Hi!", role="assistant"),
                {"role": "user", "content": "She is Luna.", "name": "al"},
            ],
            user_id="alice",
            run_id="r1",
            metadata={"source": "intake", "score": 2},
            reference_time=WHEN,
            infer=False,
        )
        hits = await client.search(
            "pets?",
            user_id="alice",
            agent_id="tutor",
            limit=5,
            threshold=0.25,
            filters=[Filter("n", "gte", 2), ("tags", "in", ["a", "b"])],
            mode="graph",
            start=WHEN,
            end=WHEN + timedelta(days=1),
        )
        got = await client.get("m7", agent_id="tutor")
        page = await client.list(user_id="alice", page_size=2, page_token="1", filters={"topic": "pets"})
        updated = await client.update("m7", "new", user_id="alice", metadata={"k": "v"}, expected_version=3)
        await client.delete("m7", user_id="alice", expected_version=4)
        assert await client.delete_all(run_id="r1") == 7
        history = await client.history("m7", user_id="alice")
        sub = await client.subgraph("Luna", user_id="alice", depth=2, limit=50)
        paths = await client.paths("alice", "cold", user_id="alice", max_depth=3, limit=4)
        report = await client.verify()
        assert await client.reindex(full=True) == (2, 1)
        await client.update("m7", "no metadata", user_id="alice")

    req = {name: r for name, r, _, _ in srv.script.calls}
    add = req["Add"]
    assert (add.scope.user_id, add.scope.run_id) == ("alice", "r1")
    assert [(m.role, m.content, m.name) for m in add.messages] == [
        ("user", "I have a cat.", ""),
        ("assistant", "Hi!", ""),
        ("user", "She is Luna.", "al"),
    ]
    assert json_format.MessageToDict(add.metadata) == {"source": "intake", "score": 2}
    assert add.reference_time.ToDatetime(tzinfo=UTC) == WHEN and add.HasField("infer") and add.infer is False
    search = req["Search"]
    assert (search.scope.user_id, search.scope.agent_id, search.query, search.limit) == ("alice", "tutor", "pets?", 5)
    assert search.threshold == pytest.approx(0.25) and search.mode == memory_pb2.RETRIEVAL_MODE_GRAPH
    assert [(f.key, f.op) for f in search.filters] == [
        ("n", memory_pb2.FILTER_OP_GTE),
        ("tags", memory_pb2.FILTER_OP_IN),
    ]
    assert json_format.MessageToDict(search.filters[1].value) == ["a", "b"]
    assert search.time_range.start.ToDatetime(tzinfo=UTC) == WHEN
    assert search.time_range.end.ToDatetime(tzinfo=UTC) == WHEN + timedelta(days=1)
    assert (req["Get"].scope.agent_id, req["Get"].memory_id) == ("tutor", "m7")
    lst = req["List"]
    assert (lst.page_size, lst.page_token, lst.filters[0].key) == (2, "1", "topic")
    upd = [r for name, r, _, _ in srv.script.calls if name == "Update"]
    assert (upd[0].text, upd[0].expected_version, json_format.MessageToDict(upd[0].metadata)) == ("new", 3, {"k": "v"})
    assert not upd[1].HasField("metadata")  # None leaves the metadata alone, {} would clear it
    assert req["Delete"].expected_version == 4 and req["DeleteAll"].scope.run_id == "r1"
    assert (req["Subgraph"].entity, req["Subgraph"].depth, req["Subgraph"].limit) == ("Luna", 2, 50)
    p = req["Paths"]
    assert (p.source, p.target, p.max_depth, p.limit) == ("alice", "cold", 3, 4)
    assert req["Reindex"].full is True

    assert result.events[0].memory.id == "m1" and result.episode_id == "e1"
    assert hits[0].retrievers == ("vector", "graph") and hits[1].vector_score is None
    assert got.id == "m7" and page.next_page_token == "2" and updated.text == "new"
    assert history[0].event == "update" and history[0].at == WHEN
    assert sub.entities[0].name == "Luna" and paths[0].start == "alice" and report.consistent


async def test_search_defaults_and_time_range_left_unset(srv: ServerThread) -> None:
    async with AsyncRecalld(srv.address) as client:
        await client.search("q", user_id="alice")
        await client.add("x", user_id="alice")
    search, add = srv.script.calls[0][1], srv.script.calls[1][1]
    assert (search.limit, search.threshold, search.mode) == (10, 0.0, memory_pb2.RETRIEVAL_MODE_HYBRID)
    assert not search.HasField("time_range") and list(search.filters) == []
    assert add.infer is True and not add.HasField("reference_time")


async def test_local_input_errors_are_raised_before_any_call(srv: ServerThread) -> None:
    async with AsyncRecalld(srv.address) as client:
        with pytest.raises(ValueError, match="scope"):
            await client.search("q")
        with pytest.raises(ValueError, match="scope"):
            client.iterate()  # at the call, not at the first page
        with pytest.raises(ValueError, match="time zone"):
            await client.search("q", user_id="alice", start=datetime(2024, 1, 1))
        with pytest.raises(ValueError, match="not one of"):
            await client.search("q", user_id="alice", mode="semantic")  # type: ignore[arg-type]
    assert srv.script.calls == []


async def test_unavailable_twice_then_success_takes_three_attempts(srv: ServerThread) -> None:
    srv.script.failures = [grpc.StatusCode.UNAVAILABLE] * 2
    async with AsyncRecalld(srv.address, retry=FAST) as client:
        hits = await client.search("q", user_id="alice")
    assert srv.script.names() == ["Search"] * 3 and hits[0].memory.id == "m1"


async def test_invalid_argument_is_not_retried(srv: ServerThread) -> None:
    srv.script.failures = [grpc.StatusCode.INVALID_ARGUMENT] * 3
    async with AsyncRecalld(srv.address, retry=FAST) as client:
        with pytest.raises(InvalidArgument) as info:
            await client.add("x", user_id="alice")
    assert srv.script.names() == ["Add"]
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.message == "scripted invalid_argument"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.NOT_FOUND, NotFound),
        (grpc.StatusCode.ABORTED, Conflict),
        (grpc.StatusCode.PERMISSION_DENIED, PermissionDenied),
        (grpc.StatusCode.UNAUTHENTICATED, Unauthenticated),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhausted),
        (grpc.StatusCode.INTERNAL, Internal),
        (grpc.StatusCode.DATA_LOSS, Internal),
    ],
)
async def test_only_unavailable_is_retried(srv: ServerThread, code: grpc.StatusCode, error: type[RecalldError]) -> None:
    srv.script.failures = [code, code]
    async with AsyncRecalld(srv.address, retry=FAST) as client:
        with pytest.raises(error) as info:
            await client.update("m1", "new text", user_id="alice", expected_version=2)
    assert srv.script.names() == ["Update"]
    assert info.value.code is code and info.value.message == f"scripted {code.name.lower()}"


async def test_retries_back_off_exponentially_with_jitter_and_stop_at_the_policys_attempts(
    srv: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    bounds: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        bounds.append((low, high))
        return 0.0

    monkeypatch.setattr(random, "uniform", record)
    srv.script.failures = [grpc.StatusCode.UNAVAILABLE] * 9
    async with AsyncRecalld(srv.address, retry=RetryPolicy(attempts=5, initial_backoff=0.1, max_backoff=0.3)) as client:
        with pytest.raises(Unavailable) as info:
            await client.verify()
    assert srv.script.names() == ["Verify"] * 5
    assert bounds == [(0.0, 0.1), (0.0, 0.2), (0.0, 0.3), (0.0, 0.3)]  # full jitter below the capped backoff
    assert info.value.code is grpc.StatusCode.UNAVAILABLE


async def test_an_unreachable_server_is_unavailable_after_the_retries() -> None:
    async with AsyncRecalld("127.0.0.1:1", retry=FAST, timeout=5) as client:
        with pytest.raises(Unavailable):
            await client.verify()


async def test_the_default_deadline_is_sent_with_every_call(srv: ServerThread) -> None:
    async with AsyncRecalld(srv.address) as client:
        await client.get("m1", user_id="alice")
        await client.get("m1", user_id="alice", timeout=5)
    (_, _, _, default), (_, _, _, override) = srv.script.calls
    assert default is not None and 29 < default < 30.5  # gRPC rounds the wire timeout up a little
    assert override is not None and 4 < override < 5.5


async def test_a_slow_call_raises_deadline_exceeded(srv: ServerThread) -> None:
    srv.script.delay = 1.0
    async with AsyncRecalld(srv.address, timeout=0.1, retry=FAST) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded) as info:
            await client.search("q", user_id="alice")
        assert time.monotonic() - started < 0.9
        assert info.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
        assert srv.script.names() == ["Search"]  # not retried
        srv.script.delay = 0.0
        assert await client.search("q", user_id="alice", timeout=5)


async def test_the_deadline_covers_the_retries(srv: ServerThread) -> None:
    srv.script.failures = [grpc.StatusCode.UNAVAILABLE] * 100
    policy = RetryPolicy(attempts=100, initial_backoff=0.05, max_backoff=0.05, multiplier=1.0)
    async with AsyncRecalld(srv.address, timeout=0.3, retry=policy) as client:
        started = time.monotonic()
        with pytest.raises((Unavailable, DeadlineExceeded)):
            await client.search("q", user_id="alice")
        assert time.monotonic() - started < 0.6
    assert 1 < len(srv.script.calls) < 100


async def test_metadata_reaches_the_server_with_every_call(srv: ServerThread) -> None:
    headers = [("authorization", "Bearer t0k3n"), ("x-tenant", "acme")]
    async with AsyncRecalld(srv.address, metadata=headers) as client:
        await client.search("q", user_id="alice")
        await client.verify()
    for _, _, sent, _ in srv.script.calls:
        assert sent["authorization"] == "Bearer t0k3n" and sent["x-tenant"] == "acme"


async def test_channel_and_call_credentials_are_pluggable() -> None:
    local = grpc.LocalConnectionType.LOCAL_TCP
    secure = ServerThread(grpc.local_server_credentials(local))
    try:
        async with AsyncRecalld(
            secure.address,
            credentials=grpc.local_channel_credentials(local),
            call_credentials=grpc.access_token_call_credentials("s3cret"),
        ) as client:
            assert (await client.verify()).consistent
        assert secure.script.calls[0][2]["authorization"] == "Bearer s3cret"
    finally:
        secure.stop()
    with pytest.raises(ValueError, match="secure channel"):
        AsyncRecalld("127.0.0.1:1", call_credentials=grpc.access_token_call_credentials("t"))


async def test_an_existing_channel_can_be_used(srv: ServerThread) -> None:
    channel = grpc.aio.insecure_channel(srv.address)
    async with AsyncRecalld(channel=channel) as client:
        assert (await client.get("m3", user_id="alice")).id == "m3"
    with pytest.raises(ValueError, match="either channel"):
        AsyncRecalld(channel=channel, options=[("grpc.enable_retries", 0)])


async def test_async_iterate_walks_every_page_with_the_same_filters(srv: ServerThread) -> None:
    one_shot = (f for f in [Filter("topic", "eq", "pets")])  # consumed once, sent with every page
    async with AsyncRecalld(srv.address) as client:
        ids = [m.id async for m in client.iterate(user_id="alice", page_size=2, filters=one_shot)]
    assert ids == ["p0-0", "p0-1", "p1-0", "p1-1", "p2-0", "p2-1"]
    lists = [r for _, r, _, _ in srv.script.calls]
    assert [r.page_token for r in lists] == ["", "1", "2"]
    assert all(r.page_size == 2 and [f.key for f in r.filters] == ["topic"] for r in lists)


# -- the blocking client --------------------------------------------------------------------------


def test_the_blocking_client_runs_the_async_implementation(srv: ServerThread) -> None:
    for verb in ("add", "search", "get", "list", "update", "delete", "delete_all", "history", "subgraph", "paths"):
        assert getattr(Recalld, verb).__wrapped__ is getattr(AsyncRecalld, verb)  # no second copy of the logic
    srv.script.failures = [grpc.StatusCode.UNAVAILABLE]
    with Recalld(srv.address, retry=FAST, metadata=[("x-app", "test")]) as client:
        assert client.add("I have a cat.", user_id="alice").events[0].memory.id == "m1"
        assert [m.id for m in client.iterate(user_id="alice", page_size=2)][-1] == "p2-1"
        srv.script.failures = [grpc.StatusCode.ABORTED]
        with pytest.raises(Conflict, match="ABORTED: scripted aborted"):
            client.update("m1", "x", user_id="alice")
        assert client.delete_all(user_id="alice") == 7
        assert client.reindex() == (1, 1)
        with pytest.raises(ValueError, match="scope"):
            client.get("m1")
    assert srv.script.names() == ["Add", "Add", "List", "List", "List", "Update", "DeleteAll", "Reindex"]
    assert all(c[2]["x-app"] == "test" for c in srv.script.calls)


def test_the_blocking_client_has_deadlines_too(srv: ServerThread) -> None:
    srv.script.delay = 1.0
    with Recalld(srv.address, timeout=0.1) as client, pytest.raises(DeadlineExceeded):
        client.verify()


def test_leaving_a_blocking_iteration_early_fetches_no_more_pages(srv: ServerThread) -> None:
    with Recalld(srv.address) as client:
        for m in client.iterate(user_id="alice", page_size=2):
            assert m.id == "p0-0"
            break
        assert srv.script.names() == ["List"]
        with pytest.raises(ValueError, match="scope"):
            client.iterate()  # checked at the call


def test_the_blocking_client_is_shared_between_threads_and_closes_its_thread(srv: ServerThread) -> None:
    client = Recalld(srv.address)
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: client.get(f"m{i}", user_id="alice").id, range(32)))
    assert ids == [f"m{i}" for i in range(32)]
    thread = client._thread
    assert thread.is_alive() and thread.daemon
    client.close()
    client.close()  # idempotent
    assert not thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        client.verify()
