"""recalld.client end to end: every verb of the blocking client, and the asyncio client's main
verbs, against a real `recalld serve` on each backend combination (the `server` fixture)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from recalld.client import AsyncRecalld, Conflict, Filter, InvalidArgument, NotFound, Recalld
from tests.e2e.conftest import SEED
from tests.harness import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def memory(server: ServerProcess) -> Iterator[Recalld]:
    with Recalld(server.address) as client:
        yield client


def _user() -> str:
    return f"client-{uuid.uuid4().hex[:10]}"


def test_add_then_search_finds_it_with_paths_and_retrievers(memory: Recalld) -> None:
    user = _user()
    result = memory.add(SEED, user_id=user, metadata={"source": "intake", "priority": 2})
    assert result.episode_id and len(result.added) == 4 and all(m.version == 1 for m in result.added)
    assert all(m.user_id == user and m.state == "active" and m.triples for m in result.added)
    assert {m.speaker for m in result.added} == {user}  # no name: the scope's user said it
    assert memory.add(SEED[0], user_id=user).events[0].event == "noop"
    (said,) = memory.add({"role": "user", "content": "I teach chemistry.", "name": "Dana"}, user_id=user).added
    assert said.speaker == "Dana" and memory.get(said.id, user_id=user).speaker == "Dana"

    hits = memory.search("how is my pet's health?", user_id=user)
    top = hits[0]
    assert top.memory.text == SEED[0]
    assert set(top.retrievers) == {"vector", "graph"} and top.vector_score is not None
    assert f"{user} -has_pet-> Luna -catch-> cold" in [p.text for p in top.paths]
    assert top.paths[0].edges and all(e.memory_id for e in top.paths[0].edges)
    assert top.memory.metadata == {"source": "intake", "priority": 2}
    assert type(top.memory.metadata["priority"]) is int
    graph_only = memory.search("how is my pet's health?", user_id=user, mode="graph")
    assert graph_only[0].memory.id == top.memory.id and graph_only[0].retrievers == ("graph",)
    assert graph_only[0].vector_score is None

    assert memory.search("pets", user_id=user, filters={"source": "elsewhere"}) == []
    assert memory.search("pets", user_id=user, filters=[Filter("priority", "gte", 2)])
    assert memory.search("pets", user_id=user, filters=[("priority", "gt", 2)]) == []
    assert memory.search("pets", user_id=user, filters=[("source", "in", ["intake", "x"])])
    assert len(memory.search("pets", user_id=user, limit=1, threshold=0.0)) == 1
    later = datetime.now(UTC) + timedelta(days=1)
    assert memory.search("pets", user_id=user, start=later) == []
    assert memory.search("Luna", user_id=_user()) == []  # another scope sees nothing


def test_reference_time_and_time_window(memory: Recalld) -> None:
    user = _user()
    when = datetime(2020, 5, 17, 9, 30, tzinfo=UTC)
    (m,) = memory.add("I ran a marathon in Vienna.", user_id=user, reference_time=when, infer=False).added
    assert m.reference_time == when and m.created_at > when and m.created_at.tzinfo is not None
    inside = memory.search("marathon", user_id=user, start=when - timedelta(days=1), end=when + timedelta(days=1))
    assert [h.memory.id for h in inside] == [m.id]
    assert memory.search("marathon", user_id=user, end=when) == []  # end is exclusive


def test_get_update_conflict_history_delete(memory: Recalld) -> None:
    user = _user()
    mid = memory.add("I'm allergic to penicillin.", user_id=user).added[0].id
    got = memory.get(mid, user_id=user)
    assert got.text == "I'm allergic to penicillin." and got.triples and got.created_at.tzinfo is not None
    updated = memory.update(
        mid, "I'm allergic to amoxicillin.", user_id=user, metadata={"edited": True}, expected_version=got.version
    )
    assert updated.version == got.version + 1 and updated.text == "I'm allergic to amoxicillin."
    assert updated.metadata == {"edited": True} and updated.updated_at >= got.created_at
    with pytest.raises(Conflict, match="version") as stale:
        memory.update(mid, "I'm allergic to latex.", user_id=user, expected_version=got.version)
    assert stale.value.code is grpc.StatusCode.ABORTED
    with pytest.raises(Conflict):
        memory.delete(mid, user_id=user, expected_version=got.version)
    assert memory.get(mid, user_id=user).text == "I'm allergic to amoxicillin."  # neither stale write landed

    history = memory.history(mid, user_id=user)
    assert [h.event for h in history] == ["add", "update"]
    assert (history[1].old_text, history[1].new_text) == ("I'm allergic to penicillin.", "I'm allergic to amoxicillin.")
    assert history[0].at <= history[1].at and history[1].at.tzinfo is not None
    with pytest.raises(NotFound):
        memory.get(mid, user_id=_user())  # another user's id is not found, not forbidden

    memory.delete(mid, user_id=user, expected_version=updated.version)
    with pytest.raises(NotFound) as info:
        memory.get(mid, user_id=user)
    assert info.value.code is grpc.StatusCode.NOT_FOUND and mid in info.value.message
    assert [h.event for h in memory.history(mid, user_id=user)] == ["add", "update", "delete"]
    with pytest.raises(NotFound):
        memory.delete(mid, user_id=user)


def test_list_and_iterate_paginate(memory: Recalld) -> None:
    user = _user()
    facts = [f"Fact number {i} is about topic {i}." for i in range(5)]
    memory.add(facts, user_id=user, infer=False, metadata={"kind": "fact"})
    memory.add("An unrelated note.", user_id=user, infer=False, metadata={"kind": "note"})

    pages, token = [], ""
    while True:
        page = memory.list(user_id=user, page_size=2, page_token=token, filters={"kind": "fact"})
        pages.append([m.id for m in page.memories])
        token = page.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    listed = [mid for p in pages for mid in p]
    iterated = list(memory.iterate(user_id=user, page_size=2, filters=[Filter("kind", "eq", "fact")]))
    assert [m.id for m in iterated] == listed  # the same order, no duplicates, nothing lost
    assert sorted(m.text for m in iterated) == sorted(facts)
    assert len(list(memory.iterate(user_id=user, page_size=2))) == 6

    assert memory.delete_all(user_id=user) == 6
    assert list(memory.iterate(user_id=user)) == []
    assert memory.list(user_id=user).memories == ()
    assert memory.delete_all(user_id=user) == 0


def test_graph_verbs(memory: Recalld) -> None:
    user = _user()
    memory.add(SEED, user_id=user)
    sub = memory.subgraph("Luna", user_id=user, depth=1)
    assert {(e.subject, e.predicate, e.object) for e in sub.edges} >= {
        (user, "has_pet", "Luna"),
        ("Luna", "catch", "cold"),
    }
    assert {"Luna", user} <= {e.name for e in sub.entities}
    assert len(memory.subgraph("Luna", user_id=user, limit=1).edges) == 1
    paths = memory.paths(user, "cold", user_id=user)
    assert paths[0].text == f"{user} -has_pet-> Luna -catch-> cold" and paths[0].start == user
    assert [e.predicate for e in paths[0].edges] == ["has_pet", "catch"]
    with pytest.raises(NotFound):
        memory.subgraph("Atlantis", user_id=user)


def test_operator_verbs(memory: Recalld) -> None:
    memory.add("I collect stamps.", user_id=_user())
    report = memory.verify()
    assert report.consistent and report.memories == report.vectors > 0
    assert report.missing_vectors == () and report.orphan_vectors == ()
    assert memory.reindex() == (0, 0)
    upserted, deleted = memory.reindex(full=True)
    assert upserted == report.memories and deleted == 0
    assert memory.verify().consistent


def test_bad_requests_raise_invalid_argument(memory: Recalld) -> None:
    with pytest.raises(InvalidArgument, match="limit") as info:
        memory.search("q", user_id=_user(), limit=1000)
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(InvalidArgument, match="memory id"):
        memory.get("not-a-uuid", user_id=_user())
    with pytest.raises(ValueError, match="scope"):
        memory.delete_all()


async def test_the_asyncio_client(server: ServerProcess) -> None:
    user = _user()
    async with AsyncRecalld(server.address) as memory:
        result = await memory.add(SEED, user_id=user, agent_id="tutor")
        assert len(result.added) == 4 and {m.agent_id for m in result.added} == {"tutor"}
        hits = await memory.search("penicillin allergy", user_id=user, mode="vector", limit=1)
        assert hits[0].memory.text == "I'm allergic to penicillin." and hits[0].retrievers == ("vector",)
        hits = await memory.search("how is my pet's health?", user_id=user, agent_id="tutor")
        assert f"{user} -has_pet-> Luna -catch-> cold" in [p.text for p in hits[0].paths]
        ids = [m.id async for m in memory.iterate(user_id=user, page_size=3)]
        assert sorted(ids) == sorted(m.id for m in result.added)
        assert await memory.search("Luna", user_id=user, agent_id="someone-else") == []
        with pytest.raises(NotFound):
            await memory.get(str(uuid.uuid4()), user_id=user)
