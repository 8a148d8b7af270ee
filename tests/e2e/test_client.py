"""recalld.client end to end: every verb against a real `recalld serve` on each backend combination."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from recalld.client import AsyncRecalld, Conflict, InvalidArgument, NotFound, Recalld
from tests.e2e.conftest import SEED
from tests.harness import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def memory(server: ServerProcess) -> Iterator[Recalld]:
    with Recalld(server.address) as client:
        yield client


def _user() -> str:
    return f"client-{uuid.uuid4().hex[:10]}"


def test_the_readme_walkthrough(memory: Recalld) -> None:
    user = _user()
    result = memory.add(SEED, user_id=user, metadata={"source": "intake"})
    assert len(result.added) == 4 and all(m.version == 1 for m in result.added)
    assert memory.add(SEED[0], user_id=user).events[0].event == "noop"
    hits = memory.search("how is my pet's health?", user_id=user)
    assert hits[0].memory.text == SEED[0]
    assert set(hits[0].retrievers) == {"vector", "graph"}
    assert any(p.text == f"{user} -has_pet-> Luna -catch-> cold" for p in hits[0].paths)
    assert hits[0].memory.metadata == {"source": "intake"}
    assert memory.search("pets", user_id=user, filters={"source": "elsewhere"}) == []
    later = datetime.now(UTC) + timedelta(days=1)
    assert memory.search("pets", user_id=user, start=later) == []


def test_get_update_history_delete(memory: Recalld) -> None:
    user = _user()
    mid = memory.add("I'm allergic to penicillin.", user_id=user).added[0].id
    got = memory.get(mid, user_id=user)
    assert got.text == "I'm allergic to penicillin." and got.triples and got.created_at.tzinfo is not None
    updated = memory.update(mid, "I'm allergic to amoxicillin.", user_id=user, expected_version=got.version)
    assert updated.version == got.version + 1 and updated.text == "I'm allergic to amoxicillin."
    with pytest.raises(Conflict, match="version"):
        memory.update(mid, "I'm allergic to latex.", user_id=user, expected_version=got.version)
    assert [h.event for h in memory.history(mid, user_id=user)] == ["add", "update"]
    with pytest.raises(NotFound):
        memory.get(mid, user_id=_user())  # another user's id is not found, not forbidden
    memory.delete(mid, user_id=user)
    with pytest.raises(NotFound) as info:
        memory.get(mid, user_id=user)
    assert info.value.message.startswith(f"memory {mid}")
    assert [h.event for h in memory.history(mid, user_id=user)] == ["add", "update", "delete"]


def test_list_and_iterate_paginate(memory: Recalld) -> None:
    user = _user()
    memory.add([f"Fact number {i} is about topic {i}." for i in range(5)], user_id=user, infer=False)
    page = memory.list(user_id=user, page_size=2)
    assert len(page.memories) == 2 and page.next_page_token
    texts = [m.text for m in memory.iterate(user_id=user, page_size=2)]
    assert sorted(texts) == sorted(f"Fact number {i} is about topic {i}." for i in range(5))
    assert memory.delete_all(user_id=user) == 5
    assert list(memory.iterate(user_id=user)) == []


def test_graph_and_operator_verbs(memory: Recalld) -> None:
    user = _user()
    memory.add(SEED, user_id=user)
    sub = memory.subgraph("Luna", user_id=user, depth=1)
    assert {(e.subject, e.predicate, e.object) for e in sub.edges} >= {(user, "has_pet", "Luna")}
    assert "Luna" in {e.name for e in sub.entities}
    paths = memory.paths(user, "cold", user_id=user)
    assert paths[0].text == f"{user} -has_pet-> Luna -catch-> cold"
    with pytest.raises(NotFound):
        memory.subgraph("Atlantis", user_id=user)
    assert memory.verify().consistent
    assert memory.reindex() == (0, 0)


def test_bad_requests_raise_invalid_argument(memory: Recalld) -> None:
    with pytest.raises(InvalidArgument, match="limit"):
        memory.search("q", user_id=_user(), limit=1000)
    with pytest.raises(InvalidArgument, match="memory id"):
        memory.get("not-a-uuid", user_id=_user())


async def test_the_asyncio_client(server: ServerProcess) -> None:
    user = _user()
    async with AsyncRecalld(server.address) as memory:
        await memory.add(SEED, user_id=user)
        hits = await memory.search("penicillin allergy", user_id=user, mode="vector", limit=1)
        assert hits[0].memory.text == "I'm allergic to penicillin." and hits[0].retrievers == ("vector",)
        assert len([m async for m in memory.iterate(user_id=user, page_size=3)]) == 4
