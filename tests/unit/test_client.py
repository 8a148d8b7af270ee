"""recalld.client against a real in-process gRPC server whose answers the test controls:
conversions, error translation, retries (UNAVAILABLE only), deadlines, headers, both front ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
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
    Recalld,
    RetryPolicy,
    Unavailable,
)
from recalld.client import _convert as conv
from recalld.v1 import common_pb2, memory_pb2, memory_pb2_grpc

WHEN = datetime(2024, 3, 1, 12, 30, 5, 250000, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, initial_backoff=0.001, max_backoff=0.01)


def _memory(mid: str = "m1", text: str = "Luna is a Siamese.") -> common_pb2.Memory:
    m = common_pb2.Memory(id=mid, text=text, scope=common_pb2.Scope(user_id="alice"), episode_id="e1", version=3)
    m.metadata.update({"topic": "pets", "n": 2})
    for ts in (m.created_at, m.updated_at, m.reference_time):
        ts.FromDatetime(WHEN)
    m.triples.add(subject="Luna", predicate="is_a", object="Siamese", subject_type="animal", object_type="concept")
    m.state = common_pb2.MEMORY_STATE_ACTIVE
    return m


class Scripted(memory_pb2_grpc.MemoryServiceServicer):
    """Answers from a script: a list of status codes to fail with before succeeding."""

    def __init__(self) -> None:
        self.failures: list[grpc.StatusCode] = []
        self.calls: list[tuple[str, Any, dict[str, str]]] = []
        self.delay = 0.0
        self.pages = 3

    async def _step(self, name: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        self.calls.append((name, request, dict(context.invocation_metadata() or ())))
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
        hit.paths.add(start="alice", text="alice -has_pet-> Luna").edges.add(
            subject="alice", predicate="has_pet", object="Luna", memory_id="m1"
        )
        return memory_pb2.SearchResponse(hits=[hit, memory_pb2.SearchHit(memory=_memory("m2"), score=0.1)])

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


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[Scripted, str]]:
    server = grpc.aio.server()
    servicer = Scripted()
    memory_pb2_grpc.add_MemoryServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_values_travel_as_plain_python_both_ways(scripted: tuple[Scripted, str]) -> None:
    servicer, address = scripted
    async with AsyncRecalld(address, retry=FAST) as client:
        result = await client.add(
            [
                "I have a cat.",
                Message("Hi!", role="assistant"),
                {"role": "user", "content": "She is Luna.", "name": "al"},
            ],
            user_id="alice",
            metadata={"source": "intake", "score": 2},
            reference_time=WHEN,
            infer=False,
        )
        hits = await client.search(
            "pets?",
            user_id="alice",
            agent_id="tutor",
            filters=[Filter("n", "gte", 2), ("tags", "in", ["a", "b"])],
            mode="graph",
            start=WHEN,
            end=WHEN + timedelta(days=1),
        )
    add = servicer.calls[0][1]
    assert [(m.role, m.content, m.name) for m in add.messages] == [
        ("user", "I have a cat.", ""),
        ("assistant", "Hi!", ""),
        ("user", "She is Luna.", "al"),
    ]
    assert json_format.MessageToDict(add.metadata) == {"source": "intake", "score": 2}
    assert add.reference_time.ToDatetime(tzinfo=UTC) == WHEN and add.infer is False
    search = servicer.calls[1][1]
    assert (search.scope.user_id, search.scope.agent_id, search.mode) == (
        "alice",
        "tutor",
        memory_pb2.RETRIEVAL_MODE_GRAPH,
    )
    assert [(f.key, f.op) for f in search.filters] == [
        ("n", memory_pb2.FILTER_OP_GTE),
        ("tags", memory_pb2.FILTER_OP_IN),
    ]
    assert json_format.MessageToDict(search.filters[1].value) == ["a", "b"]
    assert search.time_range.end.ToDatetime(tzinfo=UTC) == WHEN + timedelta(days=1)

    (event,) = result.events
    m = event.memory
    assert (event.event, result.episode_id, m.id, m.version, m.state) == ("add", "e1", "m1", 3, "active")
    assert m.created_at == WHEN and m.created_at.tzinfo is not None
    assert m.metadata == {"topic": "pets", "n": 2}
    assert m.triples[0].subject == "Luna" and m.triples[0].subject_type == "animal"
    assert result.added == (m,)
    assert hits[0].retrievers == ("vector", "graph") and hits[0].vector_score == 0.5
    assert hits[0].paths[0].text == "alice -has_pet-> Luna" and hits[0].paths[0].edges[0].predicate == "has_pet"
    assert hits[1].vector_score is None  # unset, not 0.0


def test_bad_local_input_fails_before_any_call() -> None:
    with pytest.raises(ValueError, match="scope"):
        conv.scope()
    with pytest.raises(ValueError, match="time zone"):
        conv.timestamp(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="not one of"):
        conv.filters([("k", "like", "x")])
    with pytest.raises(ValueError, match="not one of"):
        conv.mode("semantic")
    assert [f.op for f in conv.filters({"a": 1, "b": "x"})] == [memory_pb2.FILTER_OP_EQ] * 2


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgument),
        (grpc.StatusCode.NOT_FOUND, NotFound),
        (grpc.StatusCode.ABORTED, Conflict),
        (grpc.StatusCode.DATA_LOSS, Internal),
    ],
)
async def test_statuses_become_exceptions_and_are_not_retried(
    scripted: tuple[Scripted, str], code: grpc.StatusCode, error: type[Exception]
) -> None:
    servicer, address = scripted
    servicer.failures = [code, code]
    async with AsyncRecalld(address, retry=FAST) as client:
        with pytest.raises(error) as info:
            await client.update("m1", "new text", user_id="alice", expected_version=2)
    assert len(servicer.calls) == 1  # only UNAVAILABLE is retried
    assert info.value.code is code and info.value.message == f"scripted {code.name.lower()}"  # type: ignore[attr-defined]
    assert servicer.calls[0][1].expected_version == 2


async def test_unavailable_is_retried_with_backoff_then_succeeds(scripted: tuple[Scripted, str]) -> None:
    servicer, address = scripted
    servicer.failures = [grpc.StatusCode.UNAVAILABLE] * 3
    async with AsyncRecalld(address, retry=FAST) as client:
        hits = await client.search("q", user_id="alice")
    assert len(servicer.calls) == 4 and hits[0].memory.id == "m1"


async def test_retries_stop_after_the_policys_attempts(scripted: tuple[Scripted, str]) -> None:
    servicer, address = scripted
    servicer.failures = [grpc.StatusCode.UNAVAILABLE] * 5
    async with AsyncRecalld(address, retry=RetryPolicy(attempts=2, initial_backoff=0.001)) as client:
        with pytest.raises(Unavailable):
            await client.search("q", user_id="alice")
    assert len(servicer.calls) == 2


async def test_every_call_has_a_deadline(scripted: tuple[Scripted, str]) -> None:
    servicer, address = scripted
    servicer.delay = 0.5
    async with AsyncRecalld(address, timeout=0.05, retry=FAST) as client:
        with pytest.raises(DeadlineExceeded):
            await client.search("q", user_id="alice")
        servicer.delay = 0.0
        assert await client.search("q", user_id="alice", timeout=5)


async def test_metadata_reaches_the_server_with_every_call(scripted: tuple[Scripted, str]) -> None:
    servicer, address = scripted
    async with AsyncRecalld(address, metadata=[("authorization", "Bearer t0k3n")]) as client:
        await client.search("q", user_id="alice")
    assert servicer.calls[0][2]["authorization"] == "Bearer t0k3n"


async def test_call_credentials_need_a_secure_channel() -> None:
    with pytest.raises(ValueError, match="secure channel"):
        AsyncRecalld("127.0.0.1:1", call_credentials=grpc.access_token_call_credentials("t"))


async def test_async_iterate_walks_every_page(scripted: tuple[Scripted, str]) -> None:
    servicer, address = scripted
    async with AsyncRecalld(address) as client:
        ids = [m.id async for m in client.iterate(user_id="alice", page_size=2)]
    assert ids == ["p0-0", "p0-1", "p1-0", "p1-1", "p2-0", "p2-1"]
    assert [c[1].page_token for c in servicer.calls] == ["", "1", "2"]


@pytest.fixture
def threaded_server() -> Iterator[tuple[Scripted, str]]:
    """The scripted server on its own loop thread, for the blocking client."""
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    servicer = Scripted()

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server()
        memory_pb2_grpc.add_MemoryServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(None), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()


def test_the_blocking_client_wraps_the_same_calls(threaded_server: tuple[Scripted, str]) -> None:
    servicer, address = threaded_server
    servicer.failures = [grpc.StatusCode.UNAVAILABLE]
    with Recalld(address, retry=FAST) as client:
        assert client.add("I have a cat.", user_id="alice").events[0].memory.id == "m1"
        assert [m.id for m in client.iterate(user_id="alice")][-1] == "p2-1"
        servicer.failures = [grpc.StatusCode.ABORTED]
        with pytest.raises(Conflict, match="ABORTED: scripted aborted"):
            client.update("m1", "x", user_id="alice")
    assert [c[0] for c in servicer.calls] == ["Add", "Add", "List", "List", "List", "Update"]
