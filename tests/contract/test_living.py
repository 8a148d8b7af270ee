"""The GraphStore contract for living memory: expiry, use, attributes, exact (level) scopes, the
operation log of asynchronous Adds, and grants. Every backend passes the same tests."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from recalld.kernel.domain import (
    CURRENT,
    Attribute,
    Episode,
    EventKind,
    Grant,
    HistoryEntry,
    Operation,
    OperationStatus,
    Scope,
    Validity,
)
from recalld.kernel.errors import ResourceExhausted
from recalld.kernel.ports import GraphStore, Retirement
from tests.contract.graph_data import ALICE, NOW, mem, write

DAY = timedelta(days=1)


async def test_expired_memories_are_listed_then_deleted_with_history(graph_store: GraphStore) -> None:
    soon = replace(mem(ALICE, "Session note.", ("alice", "note", "x")), expires_at=NOW + DAY)
    later = replace(mem(ALICE, "Later note.", minutes=1), expires_at=NOW + 3 * DAY)
    never = mem(ALICE, "Allergic to penicillin.", minutes=2)
    await write(graph_store, soon, later, never)
    assert (await graph_store.get_memories([soon.id], ALICE))[soon.id].expires_at == NOW + DAY
    assert await graph_store.expired_memories(NOW, 10) == []
    assert await graph_store.expired_memories(NOW + 5 * DAY, 10) == [soon.id, later.id]
    assert await graph_store.expired_memories(NOW + 5 * DAY, 1) == [soon.id]
    done = await graph_store.delete_memories([soon.id], at=NOW + 2 * DAY, rule="expired")
    assert done == {soon.id: 2}
    history = await graph_store.history(soon.id, ALICE)
    assert history is not None and (history[-1].event, history[-1].rule) == (EventKind.DELETE, "expired")
    assert await graph_store.expired_memories(NOW + 5 * DAY, 10) == [later.id]
    assert await graph_store.expand(ALICE, ["alice"], 1, 10) == []  # relations cascaded


async def test_touch_records_use_without_a_new_version(graph_store: GraphStore) -> None:
    m = mem(ALICE, "I run every morning.")
    other = mem(Scope("bob"), "Bob runs.")
    await write(graph_store, m)
    await write(graph_store, other)
    assert await graph_store.touch_memories([m.id, other.id], ALICE, NOW + DAY) == 1
    assert await graph_store.touch_memories([m.id], ALICE, NOW) == 1  # never moves back
    got = (await graph_store.get_memories([m.id], ALICE))[m.id]
    assert (got.last_used_at, got.version, got.last_seen) == (NOW + DAY, 1, NOW + DAY)
    assert (await graph_store.get_memories([other.id], Scope("bob")))[other.id].last_used_at is None


async def test_importance_and_attributes_round_trip(graph_store: GraphStore) -> None:
    diet = replace(mem(ALICE, "I am vegetarian."), importance=0.9, attributes=(Attribute("diet", "vegetarian"),))
    plain = mem(ALICE, "Nice weather.", minutes=1)
    await write(graph_store, diet, plain)
    assert (await graph_store.get_memories([diet.id], ALICE))[diet.id] == diet
    assert [m.id for m in await graph_store.attributed_memories(ALICE)] == [diet.id]
    assert await graph_store.attributed_memories(Scope("bob")) == []


async def test_attributed_memories_follow_validity(graph_store: GraphStore) -> None:
    veg = replace(mem(ALICE, "I am vegetarian."), attributes=(Attribute("diet", "vegetarian"),))
    await write(graph_store, veg)
    vegan = replace(mem(ALICE, "I am vegan.", minutes=60 * 24 * 10), attributes=(Attribute("diet", "vegan"),))
    episode = Episode(str(uuid.uuid4()), ALICE, (), {}, vegan.reference_time, vegan.created_at)
    retire = Retirement(veg.id, 1, vegan.reference_time, vegan.id, "attribute:diet")
    await graph_store.add_memories(
        episode, [vegan], [HistoryEntry(vegan.id, EventKind.ADD, "", vegan.text, NOW)], retire=[retire]
    )
    assert [m.text for m in await graph_store.attributed_memories(ALICE, CURRENT)] == ["I am vegan."]
    then = await graph_store.attributed_memories(ALICE, Validity(as_of=NOW + DAY))
    assert [m.text for m in then] == ["I am vegetarian."]
    assert len(await graph_store.attributed_memories(ALICE, None)) == 2


async def test_an_exact_scope_sees_one_level(graph_store: GraphStore) -> None:
    shared = mem(ALICE, "Alice is allergic to nuts.", ("alice", "allergic_to", "nuts"))
    coach = mem(Scope("alice", "coach"), "Alice runs 5 km.", ("alice", "run", "5 km"), minutes=1)
    session = mem(Scope("alice", "", "s1"), "Alice is tired today.", ("alice", "feel", "tired"), minutes=2)
    await write(graph_store, shared)
    await write(graph_store, coach)
    await write(graph_store, session)
    ids = [shared.id, coach.id, session.id]
    assert set(await graph_store.get_memories(ids, ALICE)) == set(ids)
    assert set(await graph_store.get_memories(ids, Scope("alice", exact=True))) == {shared.id}
    assert set(await graph_store.get_memories(ids, Scope("alice", "", "s1", exact=True))) == {session.id}
    assert set(await graph_store.get_memories(ids, Scope("alice", "coach", exact=True))) == {coach.id}
    walks = await graph_store.expand(Scope("alice", exact=True), ["alice"], 1, 10)
    assert {w.edges[-1].memory_id for w in walks} == {shared.id}
    listed = await graph_store.list_memories(Scope("alice", exact=True), [], 10, None)
    assert [m.id for m in listed] == [shared.id]


def _op(scope: Scope, n: int) -> Operation:
    t = NOW + timedelta(seconds=n)
    return Operation(str(uuid.uuid4()), scope, f'{{"n": {n}}}', OperationStatus.PENDING, t, t)


async def test_the_operation_log_keeps_order_claims_and_outcomes(graph_store: GraphStore) -> None:
    ops = [_op(ALICE, n) for n in range(3)]
    for op in ops:
        await graph_store.enqueue_operation(op, limit=3)
    with pytest.raises(ResourceExhausted, match="backlog limit is 3"):
        await graph_store.enqueue_operation(_op(ALICE, 9), limit=3)
    assert [o.id for o in await graph_store.unfinished_operations(10)] == [o.id for o in ops]
    assert await graph_store.count_unfinished_operations() == 3
    assert await graph_store.get_operation(ops[0].id) == ops[0]

    lease = NOW + timedelta(minutes=5)
    assert await graph_store.claim_operation(ops[0].id, "w1", NOW, lease)
    assert not await graph_store.claim_operation(ops[0].id, "w2", NOW, lease)  # held
    assert await graph_store.claim_operation(ops[0].id, "w1", NOW, lease)  # renewal by the holder
    assert await graph_store.claim_operation(ops[0].id, "w2", lease + DAY, lease + 2 * DAY)  # lease ran out
    assert not await graph_store.finish_operation(
        ops[0].id, "w1", OperationStatus.SUCCEEDED, result="", error="", at=NOW
    )  # w1 lost it
    assert await graph_store.finish_operation(
        ops[0].id, "w2", OperationStatus.SUCCEEDED, result='{"results": []}', error="", at=NOW + DAY
    )
    done = await graph_store.get_operation(ops[0].id)
    assert done is not None and (done.status, done.result, done.attempts) == (
        OperationStatus.SUCCEEDED,
        '{"results": []}',
        3,
    )
    assert not await graph_store.claim_operation(ops[0].id, "w2", NOW + DAY, lease + DAY)  # done stays done

    # A retry gives the operation back: anyone may claim it again.
    assert await graph_store.claim_operation(ops[1].id, "w1", NOW, lease)
    assert await graph_store.finish_operation(
        ops[1].id, "w1", OperationStatus.PENDING, result="", error="Unavailable: down", at=NOW
    )
    back = await graph_store.get_operation(ops[1].id)
    assert back is not None and (back.status, back.error, back.owner) == (
        OperationStatus.PENDING,
        "Unavailable: down",
        "",
    )
    assert await graph_store.claim_operation(ops[1].id, "w2", NOW, lease)
    assert [o.id for o in await graph_store.unfinished_operations(10)] == [ops[1].id, ops[2].id]
    await graph_store.enqueue_operation(_op(ALICE, 9), limit=3)  # room again
    assert await graph_store.get_operation(str(uuid.uuid4())) is None


async def test_an_operation_becomes_its_episode(graph_store: GraphStore) -> None:
    op = _op(ALICE, 0)
    assert not await graph_store.episode_exists(op.id)
    m = mem(ALICE, "I am vegetarian.")
    await graph_store.add_memories(Episode(op.id, ALICE, (), {}, NOW, NOW), [m], [])
    assert await graph_store.episode_exists(op.id)


async def test_grants_are_kept_revoked_and_listed(graph_store: GraphStore) -> None:
    g = Grant(str(uuid.uuid4()), "alice", "medic", "coach", NOW, "medic")
    assert await graph_store.put_grant(g) == g
    again = replace(g, id=str(uuid.uuid4()), granted_at=NOW + DAY)
    assert await graph_store.put_grant(again) == g  # idempotent while active
    other = Grant(str(uuid.uuid4()), "alice", "medic", "nutritionist", NOW + DAY, "medic")
    await graph_store.put_grant(other)
    assert [x.grantee_agent for x in await graph_store.list_grants("alice")] == ["coach", "nutritionist"]
    assert [x.id for x in await graph_store.list_grants("alice", grantee_agent="coach")] == [g.id]
    assert await graph_store.list_grants("bob") == []
    assert await graph_store.revoke_grant("alice", "medic", "coach", NOW + 2 * DAY, "admin")
    assert not await graph_store.revoke_grant("alice", "medic", "coach", NOW + 2 * DAY, "admin")
    assert [x.grantee_agent for x in await graph_store.list_grants("alice")] == ["nutritionist"]
    (revoked,) = await graph_store.list_grants("alice", grantee_agent="coach", include_revoked=True)
    assert (revoked.revoked_at, revoked.revoked_by, revoked.active) == (NOW + 2 * DAY, "admin", False)
    renewed = replace(g, id=str(uuid.uuid4()), granted_at=NOW + 3 * DAY)
    assert await graph_store.put_grant(renewed) == renewed
    assert len(await graph_store.list_grants("alice", owner_agent="medic", include_revoked=True)) == 3


async def test_concurrent_claims_have_one_winner(graph_store: GraphStore) -> None:
    op = _op(ALICE, 0)
    await graph_store.enqueue_operation(op, limit=10)
    lease = NOW + timedelta(minutes=5)
    wins = await asyncio.gather(*(graph_store.claim_operation(op.id, f"w{i}", NOW, lease) for i in range(6)))
    assert sum(wins) == 1


async def test_attributed_memories_by_name(graph_store: GraphStore) -> None:
    diet = replace(mem(ALICE, "I am vegan."), attributes=(Attribute("diet", "vegan"),))
    both = replace(
        mem(ALICE, "I am allergic to nuts, vegan.", minutes=1),
        attributes=(Attribute("allergies", "nuts"), Attribute("diet_note", 'say "diet", please')),
    )
    await write(graph_store, diet, both)
    assert [m.id for m in await graph_store.attributed_memories(ALICE, CURRENT, ["diet"])] == [diet.id]
    assert [m.id for m in await graph_store.attributed_memories(ALICE, CURRENT, ["allergies", "diet"])] == [
        diet.id,
        both.id,
    ]
    assert await graph_store.attributed_memories(ALICE, CURRENT, ["pets"]) == []


async def test_decay_orders_what_the_store_returns(graph_store: GraphStore) -> None:
    """The stored clock of decay: a repeat (reinforcement) moves confirmed_at to the repeat's
    reference time, never back, and a touch moves last_used_at; decay ranks by what is read."""
    from recalld.core.profile import decay_weight, half_lives
    from recalld.core.settings import DecaySettings

    old, fresh, used = (mem(ALICE, t, minutes=i) for i, t in enumerate(("Squats.", "Deadlifts.", "Lunges.")))
    old, fresh, used = (replace(m, reference_time=NOW, valid_from=NOW, confirmed_at=NOW) for m in (old, fresh, used))
    await write(graph_store, old, fresh, used)
    later = NOW + 400 * DAY
    episode = Episode(str(uuid.uuid4()), ALICE, (), {}, later, later)
    await graph_store.add_memories(episode, [], [], reinforce=[fresh.id])
    earlier = Episode(str(uuid.uuid4()), ALICE, (), {}, NOW - DAY, later)
    await graph_store.add_memories(earlier, [], [], reinforce=[fresh.id])  # an older statement imported late
    await graph_store.touch_memories([used.id], ALICE, later - 10 * DAY)
    got = await graph_store.get_memories([old.id, fresh.id, used.id], ALICE)
    assert (got[fresh.id].confirmations, got[fresh.id].confirmed_at) == (3, later)
    settings = DecaySettings()
    weight = {i: decay_weight(m, later, half_lives(settings), settings) for i, m in got.items()}
    assert weight[fresh.id] == 1.0 > weight[used.id] > weight[old.id]
