"""recalld.client end to end, living memory: asynchronous adds (wait_operations, watch_operations,
get_operation), importance and ttl, profile, mark_used, levels and grants between agents, against a
real `recalld serve` on each backend combination (the `server` fixture)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from recalld.client import AsyncRecalld, Attribute, InvalidArgument, NotFound, Recalld
from tests.harness import ServerProcess

pytestmark = pytest.mark.e2e

WAIT = 180.0  # seconds an asynchronous add may take on a loaded machine
LEVELS = ["user", "agent", "shared"]


@pytest.fixture(scope="module")
def memory(server: ServerProcess) -> Iterator[Recalld]:
    with Recalld(server.address) as client:
        yield client


def _user() -> str:
    return f"living-{uuid.uuid4().hex[:10]}"


def test_an_asynchronous_add_is_followed_to_its_memories(memory: Recalld) -> None:
    user = _user()
    texts = ["My cat Luna caught a cold last week.", "I study linear algebra."]
    pending = [memory.add(t, user_id=user, mode="async") for t in texts]
    ids = [r.operation_id for r in pending]
    assert all(r.operation_id and r.episode_id == r.operation_id and r.events == () for r in pending)

    done = memory.wait_operations([*ids, ids[0]], timeout=WAIT)  # any order, repeats allowed
    assert [op.id for op in done] == [*ids, ids[0]]
    assert all(op.status == "succeeded" and op.done and not op.error and op.user_id == user for op in done)
    assert all(op.attempts >= 1 and op.updated_at >= op.created_at and op.created_at.tzinfo for op in done)
    for op, text in zip(done[:2], texts, strict=True):
        added = [r.memory_id for r in op.results if r.event == "add"]
        assert added and all(r.rule for r in op.results)
        got = [memory.get(mid, user_id=user) for mid in added]
        assert text in [m.text for m in got] and all(m.episode_id == op.id for m in got)

    again = memory.get_operation(ids[1])
    assert (again.id, again.status, again.results) == (ids[1], "succeeded", done[1].results)
    watched = list(memory.watch_operations(ids, timeout=30))  # done already: their final states, once
    assert sorted(op.id for op in watched) == sorted(ids) and all(op.done for op in watched)
    assert memory.wait_operations([]) == []

    with pytest.raises(InvalidArgument) as info:
        memory.get_operation("not-an-operation")
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(NotFound):
        memory.get_operation(str(uuid.uuid4()))
    with pytest.raises(NotFound):  # a failed stream raises like any other call
        list(memory.watch_operations([str(uuid.uuid4())]))


def test_waiting_on_more_operations_than_one_watch_follows(memory: Recalld) -> None:
    user = _user()
    ids = [
        memory.add(f"Note {i}: bring item {i}.", user_id=user, mode="async", infer=False).operation_id
        for i in range(105)
    ]
    done = memory.wait_operations(ids, timeout=WAIT)
    assert [op.id for op in done] == ids and {op.status for op in done} == {"succeeded"}
    assert len(list(memory.iterate(user_id=user, page_size=200))) == 105


async def test_the_asyncio_client_watches_operations(server: ServerProcess) -> None:
    user = _user()
    async with AsyncRecalld(server.address) as memory:
        r = await memory.add("I'm allergic to penicillin.", user_id=user, agent_id="medic", mode="async")
        seen = [op async for op in memory.watch_operations([r.operation_id], timeout=WAIT)]
        assert seen and seen[-1].status == "succeeded" and all(op.id == r.operation_id for op in seen)
        assert [s.status for s in seen] == list(dict.fromkeys(s.status for s in seen))  # each change once
        (final,) = await memory.wait_operations([r.operation_id], timeout=WAIT)
        assert final.results == seen[-1].results and final.agent_id == "medic"
        mid = final.results[0].memory_id
        assert (await memory.get(mid, user_id=user)).text == "I'm allergic to penicillin."
        with pytest.raises(NotFound):
            await memory.wait_operations([str(uuid.uuid4())])


def test_importance_ttl_and_attributes_are_reported(memory: Recalld) -> None:
    user = _user()
    (m,) = memory.add("My locker code is 4412.", user_id=user, ttl=timedelta(hours=1), importance=0.9).added
    assert m.importance == pytest.approx(0.9) and m.expires_at is not None and m.expires_at.tzinfo is not None
    assert timedelta(seconds=3599) <= m.expires_at - m.created_at <= timedelta(seconds=3601)
    (n,) = memory.add("I'm allergic to penicillin.", user_id=user, ttl=90.0).added
    assert n.importance == pytest.approx(0.5) and n.last_used_at is None
    assert n.expires_at is not None and timedelta(seconds=89) <= n.expires_at - n.created_at <= timedelta(seconds=91)
    assert Attribute("allergies", "penicillin") in n.attributes
    assert memory.add("I like green tea.", user_id=user).added[0].expires_at is None  # no ttl: never

    hits = memory.search("allergy", user_id=user, attributes={"allergies": "penicillin"})
    assert [h.memory.id for h in hits] == [n.id]
    assert [h.memory.id for h in memory.search("allergy", user_id=user, attributes=[("allergies", "")])] == [n.id]
    assert memory.search("allergy", user_id=user, attributes=[Attribute("allergies", "latex")]) == []


def test_profile_lists_attributes_with_their_sources(memory: Recalld) -> None:
    user = _user()
    memory.add(["I'm allergic to penicillin.", "I am vegetarian."], user_id=user, agent_id="medic")
    profile = memory.profile(user_id=user, agent_id="medic")
    assert {(a.name, a.value) for a in profile} == {("allergies", "penicillin"), ("diet", "vegetarian")}
    by_name = {a.name: a for a in profile}
    assert by_name["allergies"].multi_valued and not by_name["diet"].multi_valued
    assert by_name["allergies"].sources[0].text == "I'm allergic to penicillin."
    assert by_name["diet"].sources[0].text == "I am vegetarian."
    assert all(a.category and a.valid_from is not None and a.valid_from.tzinfo for a in profile)
    before = datetime(2000, 1, 1, tzinfo=UTC)
    assert memory.profile(user_id=user, agent_id="medic", as_of=before) == []
    assert memory.profile(user_id=user, agent_id="coach", levels=LEVELS) == []  # another agent, no grant


def test_levels_grants_and_mark_used_between_two_agents(memory: Recalld) -> None:
    user = _user()
    (fact,) = memory.add("I'm allergic to penicillin.", user_id=user, agent_id="medic").added
    query = "what is the user allergic to?"
    assert memory.search(query, user_id=user, agent_id="coach", levels=LEVELS) == []  # private to the medic
    own = memory.search(query, user_id=user, agent_id="medic", levels=LEVELS)
    assert [(h.memory.id, h.level) for h in own] == [(fact.id, "agent")]

    grant = memory.grant_access(user, "medic", "coach")
    assert grant.id and grant.active and grant.revoked_at is None and grant.granted_at.tzinfo is not None
    assert (grant.user_id, grant.owner_agent, grant.grantee_agent) == (user, "medic", "coach")
    assert memory.grant_access(user_id=user, owner_agent="medic", grantee_agent="coach").id == grant.id  # idempotent
    hits = memory.search(query, user_id=user, agent_id="coach", levels=LEVELS)
    assert [(h.memory.id, h.level) for h in hits] == [(fact.id, "shared")]
    assert 0 < hits[0].weight <= 1 and hits[0].score == pytest.approx(hits[0].relevance * hits[0].weight, rel=1e-5)
    assert [a.name for a in memory.profile(user_id=user, agent_id="coach", levels=LEVELS)] == ["allergies"]
    assert [g.id for g in memory.list_grants(user, owner_agent="medic")] == [grant.id]
    assert memory.list_grants(user, grantee_agent="medic") == []

    assert memory.mark_used([fact.id], user_id=user, agent_id="coach") == 0  # not in the coach's own scope
    assert memory.mark_used([fact.id], user_id=user, agent_id="medic") == 1
    used = memory.get(fact.id, user_id=user)
    assert used.last_used_at is not None and used.last_used_at.tzinfo is not None

    memory.revoke_access(user, "medic", "coach")
    assert memory.search(query, user_id=user, agent_id="coach", levels=LEVELS) == []
    assert memory.list_grants(user) == []
    (revoked,) = memory.list_grants(user, include_revoked=True)
    assert revoked.id == grant.id and not revoked.active and revoked.revoked_at is not None
    assert revoked.revoked_at >= revoked.granted_at

    with pytest.raises(InvalidArgument):
        memory.grant_access(user, "medic", "medic")
    with pytest.raises(InvalidArgument):
        memory.grant_access("", "medic", "coach")


def test_bad_local_input_raises_value_error_before_any_call(memory: Recalld) -> None:
    user = _user()
    with pytest.raises(ValueError, match="'everyone' is not one of user, session, agent, shared"):
        memory.search("q", user_id=user, levels=["user", "everyone"])
    with pytest.raises(ValueError, match="not a string"):
        memory.search("q", user_id=user, levels="user")
    with pytest.raises(ValueError, match="not one of"):
        memory.profile(user_id=user, levels=["team"])
    with pytest.raises(ValueError, match="ttl must be positive"):
        memory.add("I like tea.", user_id=user, ttl=-5)
    with pytest.raises(ValueError, match="ttl must be positive"):
        memory.add("I like tea.", user_id=user, ttl=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="mode 'later'"):
        memory.add("I like tea.", user_id=user, mode="later")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="importance"):
        memory.add("I like tea.", user_id=user, importance=float("nan"))
    with pytest.raises(ValueError, match="not a string"):
        memory.wait_operations("0f8fad5b-d9cb-469f-a165-70867728950e")
    with pytest.raises(ValueError, match="not a string"):
        memory.watch_operations("0f8fad5b-d9cb-469f-a165-70867728950e")  # checked at the call
    with pytest.raises(ValueError, match="scope"):
        memory.mark_used(["x"])
    with pytest.raises(InvalidArgument, match="importance"):
        memory.add("I like tea.", user_id=user, importance=2.0)  # the range is the server's to check
    assert memory.list(user_id=user).memories == ()  # nothing was written


async def test_the_asyncio_client_checks_local_input_too(server: ServerProcess) -> None:
    async with AsyncRecalld(server.address) as client:
        with pytest.raises(ValueError, match="not one of"):
            await client.search("q", user_id=_user(), levels=["users"])
        with pytest.raises(ValueError, match="ttl"):
            await client.add("I like tea.", user_id=_user(), ttl=0)
        with pytest.raises(ValueError, match="not a string"):
            client.watch_operations("0f8fad5b-d9cb-469f-a165-70867728950e")


def test_update_sets_and_clears_one_memorys_expiry(server: ServerProcess) -> None:
    with Recalld(server.address) as c:
        (event,) = c.add("My gate code is 7781.", user_id="gate-user").events
        at = datetime.now(UTC) + timedelta(hours=2)
        m = c.update(event.memory.id, "", user_id="gate-user", expires_at=at, importance=0.3)
        assert (m.text, m.importance) == ("My gate code is 7781.", pytest.approx(0.3))
        assert m.expires_at is not None and abs((m.expires_at - at).total_seconds()) < 1e-3
        assert c.update(event.memory.id, "", user_id="gate-user", clear_expiry=True).expires_at is None
