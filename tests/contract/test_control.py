"""The GraphStore contract for erasure and the CredentialStore contract (API keys, tenants): every
backend passes the same tests. (Every graph store is also the credential store of its tenant.)"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import cast

from recalld.graph.rows import decode_cache_info
from recalld.kernel.domain import (
    ApiKey,
    Episode,
    Erasure,
    ErasureCounts,
    EventKind,
    Grant,
    HistoryEntry,
    Memory,
    Operation,
    OperationStatus,
    Role,
    Scope,
    Triple,
)
from recalld.kernel.ports import CredentialStore, GraphStore, Retirement
from tests.contract.graph_data import ALICE, BOB, NOW, mem, write

DAY = timedelta(days=1)
COACH = Scope("alice", "coach")
SESSION = Scope("alice", "", "s1")


def _op(scope: Scope, n: int, status: OperationStatus = OperationStatus.PENDING) -> Operation:
    t = NOW + timedelta(seconds=n)
    return Operation(str(uuid.uuid4()), scope, f'{{"n": {n}}}', status, t, t)


def _grant(user: str, owner: str, grantee: str, n: int = 0) -> Grant:
    return Grant(str(uuid.uuid4()), user, owner, grantee, NOW + timedelta(minutes=n), owner)


async def _erasure(store: GraphStore, scope: Scope, n: int = 0) -> Erasure:
    e = Erasure(str(uuid.uuid4()), scope, NOW + timedelta(minutes=n), "admin")
    await store.begin_erasure(e)
    return e


async def _gone(store: GraphStore, scope: Scope, memories: list[Memory]) -> None:
    """Nothing of ``memories`` is readable any more, in their own scope or in ``scope``."""
    for m in memories:
        for s in (scope, m.scope):
            assert await store.get_any(m.id, s) is None
            assert await store.history(m.id, s) is None
    assert await store.get_all([m.id for m in memories]) == []
    assert not set(await store.index_state()) & {m.id for m in memories}


async def test_erasing_a_user_removes_everything_of_theirs_and_nothing_else(graph_store: GraphStore) -> None:
    store = graph_store
    cold = mem(ALICE, "My cat Luna caught a cold.", ("alice", "has_pet", "Luna"), ("Luna", "catch", "cold"))
    siamese = mem(ALICE, "Luna is a Siamese.", ("Luna", "is_a", "Siamese"), minutes=1)
    runs = mem(COACH, "Alice runs 5 km.", ("alice", "run", "5 km"), minutes=2)
    tired = mem(SESSION, "Alice is tired today.", ("alice", "feel", "tired"), minutes=3)
    veg = mem(ALICE, "I am vegetarian.", ("alice", "diet", "vegetarian"), minutes=4)
    await write(store, cold, siamese)  # episode 1
    await write(store, runs)  # 2
    await write(store, tired)  # 3
    await write(store, veg)  # 4
    vegan = mem(ALICE, "I am vegan.", ("alice", "diet", "vegan"), minutes=5)
    episode = Episode(str(uuid.uuid4()), ALICE, (), {}, vegan.reference_time, vegan.created_at)  # 5
    await store.add_memories(
        episode,
        [vegan],
        [HistoryEntry(vegan.id, EventKind.ADD, "", vegan.text, NOW)],
        retire=[Retirement(veg.id, 1, vegan.reference_time, vegan.id, "attribute:diet")],
        aliases={"Lulu": "Luna"},
    )
    healed = replace(cold, text="Luna recovered.", triples=(Triple("Luna", "recover_from", "cold"),), version=2)
    await store.replace_memory(
        healed, HistoryEntry(cold.id, EventKind.UPDATE, cold.text, healed.text, NOW), expected_version=1
    )
    assert await store.delete_memories([siamese.id], at=NOW) == {siamese.id: 2}  # a tombstone; Siamese goes
    alice_ops = [_op(ALICE, 0), _op(COACH, 1)]
    bob_op = _op(BOB, 2)
    for op in [*alice_ops, bob_op]:
        await store.enqueue_operation(op, limit=10)
    await store.put_grant(_grant("alice", "medic", "coach"))
    await store.put_grant(_grant("alice", "coach", "tutor", 1))
    assert await store.revoke_grant("alice", "coach", "tutor", NOW + DAY, "admin")  # revoked grants go too
    await store.put_grant(_grant("bob", "medic", "coach"))
    rex = mem(BOB, "I have a dog named Rex.", ("bob", "has_pet", "Rex"), ("Luna", "visits", "bob"))
    await write(store, rex)
    alice = [cold, siamese, runs, tired, veg, vegan]
    assert await store.count_user_memories("alice") == 5  # the tombstone does not count; the retired one does
    assert await store.count_user_memories("bob") == 1
    assert await store.resolve_aliases(ALICE, ["lulu"]) == {"lulu": "Luna"}

    erasure = await _erasure(store, ALICE)
    assert await store.unfinished_erasures() == [erasure]
    assert (await store.get_memories([vegan.id], ALICE))[vegan.id].text == "I am vegan."  # now decoded in memory
    counts = await store.erase_scope(erasure.id, ALICE)
    assert decode_cache_info()[2] == 0  # and no longer: no erased text stays decoded in this process
    assert counts == ErasureCounts(
        memories=6,  # every state: current, retired (veg), tombstone (siamese)
        relations=5,  # recover_from, run, feel, diet vegetarian (retired), diet vegan
        entities=7,  # alice, luna, cold, 5 km, tired, vegetarian, vegan (siamese went with the delete)
        episodes=5,
        history_entries=8,  # cold add+update, siamese add+delete, one add each for the other four
        operations=2,
        grants=2,
    )

    await _gone(store, ALICE, alice)
    assert await store.list_memories(ALICE, [], 100, None) == []
    assert await store.find_scope_ids(ALICE) == []
    assert await store.find_scope_ids(Scope(agent_id="coach")) == []
    assert await store.count_user_memories("alice") == 0
    assert await store.link_entities(ALICE, ["alice", "Luna", "cold", "vegan", "5 km"]) == []
    assert await store.resolve_aliases(ALICE, ["lulu"]) == {}
    assert await store.subgraph(ALICE, "alice", 2, 100) is None
    assert await store.expand(ALICE, ["alice", "Luna"], 2, 100) == []
    assert await store.attributed_memories(ALICE, None) == []
    assert await store.list_grants("alice", include_revoked=True) == []
    for op in alice_ops:
        assert await store.get_operation(op.id) is None
    assert [o.id for o in await store.unfinished_operations(100)] == [bob_op.id]
    drift = await store.graph_drift()
    assert (drift.orphan_relations, drift.orphan_entities) == (0, 0)

    # bob is intact, his Luna (another namespace) too
    assert set(await store.get_memories([rex.id], BOB)) == {rex.id}
    assert await store.count_user_memories("bob") == 1
    assert await store.count_memories() == 1
    history = await store.history(rex.id, BOB)
    assert history is not None and len(history) == 1
    assert {w.render() for w in await store.expand(BOB, ["Luna"], 1, 100)} == {"Luna -visits-> bob"}
    assert [g.user_id for g in await store.list_grants("bob")] == ["bob"]

    # idempotent: a second erase (a resumed one) finds nothing; the record holds the first counts
    assert await store.erase_scope(erasure.id, ALICE) == ErasureCounts()
    recorded = await store.get_erasure(erasure.id)
    assert recorded == replace(erasure, counts=counts)
    assert await store.unfinished_erasures() == [recorded]
    hidden = Scope("sha256:" + "a" * 32)
    done = await store.finish_erasure(erasure.id, 6, NOW + DAY, hidden)
    # completed, and the stored receipt names the scope by its digest only
    assert done == replace(erasure, scope=hidden, counts=replace(counts, vectors=6), completed_at=NOW + DAY)
    assert await store.finish_erasure(erasure.id, 9, NOW + 2 * DAY, Scope("other")) == done  # completed once
    assert await store.get_erasure(erasure.id) == done
    assert await store.unfinished_erasures() == []
    assert await store.get_erasure(str(uuid.uuid4())) is None


async def test_erasure_records_are_kept_once_and_resumed_oldest_first(graph_store: GraphStore) -> None:
    later = await _erasure(graph_store, BOB, n=5)
    first = await _erasure(graph_store, Scope(agent_id="coach", run_id="s1"), n=1)
    await graph_store.begin_erasure(replace(first, requested_by="someone else"))  # recorded already: kept
    assert await graph_store.unfinished_erasures() == [first, later]
    await graph_store.finish_erasure(first.id, 0, NOW + DAY, Scope(agent_id="x"))
    assert await graph_store.unfinished_erasures() == [later]
    # an erase without a record still erases (and records nothing)
    await write(graph_store, mem(BOB, "Bob swims."))
    assert (await graph_store.erase_scope(str(uuid.uuid4()), BOB)).memories == 1
    assert await graph_store.get_erasure(later.id) == later


async def test_erasing_an_agent_spans_users_and_keeps_other_agents(graph_store: GraphStore) -> None:
    store = graph_store
    coach_alice = mem(COACH, "Alice runs 5 km.", ("alice", "run", "5 km"))
    coach_bob = mem(Scope("bob", "coach"), "Bob swims.", ("bob", "swim", "pool"), minutes=1)
    coach_only = mem(Scope(agent_id="coach"), "Mornings suit me.", ("coach", "prefer", "mornings"), minutes=2)
    medic = mem(Scope("alice", "medic"), "Alice is allergic to nuts.", ("alice", "allergic_to", "nuts"), minutes=3)
    shared = mem(ALICE, "Alice likes tea.", ("alice", "like", "tea"), minutes=4)
    for m in (coach_alice, coach_bob, coach_only, medic, shared):
        await write(store, m)
    coach_op, alice_op = _op(COACH, 0), _op(ALICE, 1)
    await store.enqueue_operation(coach_op, limit=10)
    await store.enqueue_operation(alice_op, limit=10)
    await store.put_grant(_grant("alice", "coach", "medic"))  # given by the coach
    await store.put_grant(_grant("bob", "medic", "coach"))  # held by the coach
    kept = await store.put_grant(_grant("alice", "medic", "tutor"))

    coach = Scope(agent_id="coach")
    erasure = await _erasure(store, coach)
    counts = await store.erase_scope(erasure.id, coach)
    assert counts == ErasureCounts(
        memories=3,
        relations=3,
        entities=5,  # 5 km, bob, pool, coach, mornings; alice stays (medic's and the shared memory)
        episodes=3,
        history_entries=3,
        operations=1,
        grants=2,
    )
    await _gone(store, coach, [coach_alice, coach_bob, coach_only])
    assert await store.find_scope_ids(coach) == []
    assert set(await store.find_scope_ids(ALICE)) == {medic.id, shared.id}
    assert await store.find_scope_ids(BOB) == []
    assert await store.count_user_memories("alice") == 2
    assert await store.link_entities(ALICE, ["alice", "5 km", "nuts", "tea"]) == ["alice", "nuts", "tea"]
    assert await store.link_entities(coach, ["coach", "mornings"]) == []
    walks = {w.render() for w in await store.expand(ALICE, ["alice"], 1, 100)}
    assert walks == {"alice -allergic_to-> nuts", "alice -like-> tea"}
    assert await store.list_grants("alice") == [kept]
    assert await store.list_grants("bob", include_revoked=True) == []
    assert [o.id for o in await store.unfinished_operations(10)] == [alice_op.id]
    drift = await store.graph_drift()
    assert (drift.orphan_relations, drift.orphan_entities) == (0, 0)
    assert await store.erase_scope(erasure.id, coach) == ErasureCounts()
    assert (await store.finish_erasure(erasure.id, 3, NOW, Scope("x"))).counts == replace(counts, vectors=3)


async def test_erasing_a_run_keeps_the_users_other_runs_and_grants(graph_store: GraphStore) -> None:
    store = graph_store
    tired = mem(SESSION, "Alice is tired today.", ("alice", "feel", "tired"))
    chapter = mem(Scope("alice", "tutor", "s1"), "Alice finished chapter 3.", ("alice", "finish", "chapter 3"))
    rested = mem(Scope("alice", "", "s2"), "Alice is rested.", ("alice", "feel", "rested"), minutes=1)
    for m in (tired, chapter, rested):
        await write(store, m)
    await store.replace_memory(
        replace(tired, text="Alice was tired.", version=2),
        HistoryEntry(tired.id, EventKind.UPDATE, tired.text, "Alice was tired.", NOW),
        expected_version=1,
    )
    run_op, other_op = _op(SESSION, 0, OperationStatus.SUCCEEDED), _op(Scope("alice", "", "s2"), 1)
    await store.enqueue_operation(run_op, limit=10)
    await store.enqueue_operation(other_op, limit=10)
    grant = await store.put_grant(_grant("alice", "tutor", "coach"))

    run = Scope(run_id="s1")
    erasure = await _erasure(store, run)
    assert await store.erase_scope(erasure.id, run) == ErasureCounts(
        memories=2, relations=2, entities=2, episodes=2, history_entries=3, operations=1, grants=0
    )
    await _gone(store, run, [tired, chapter])
    assert await store.find_scope_ids(ALICE) == [rested.id]
    assert await store.link_entities(ALICE, ["alice", "tired", "chapter 3", "rested"]) == ["alice", "rested"]
    assert await store.list_grants("alice") == [grant]
    assert await store.get_operation(run_op.id) is None
    assert await store.get_operation(other_op.id) == other_op
    assert await store.erase_scope(erasure.id, run) == ErasureCounts()


async def test_erasing_an_exact_user_scope_keeps_the_namespace_its_agents_use(graph_store: GraphStore) -> None:
    store = graph_store
    top = mem(ALICE, "Alice likes tea.", ("alice", "like", "tea"))
    coach = mem(COACH, "Alice runs 5 km.", ("alice", "run", "5 km"), minutes=1)
    await write(store, top)
    await write(store, coach)
    level = Scope("alice", exact=True)
    counts = await store.erase_scope(str(uuid.uuid4()), level)
    assert counts == ErasureCounts(memories=1, relations=1, entities=1, episodes=1, history_entries=1)
    assert await store.find_scope_ids(ALICE) == [coach.id]
    assert await store.link_entities(ALICE, ["alice", "5 km", "tea"]) == ["alice", "5 km"]
    assert {w.render() for w in await store.expand(ALICE, ["alice"], 1, 10)} == {"alice -run-> 5 km"}


def _key(
    key_id: str,
    tenant: str,
    minutes: int,
    role: Role = Role.READ,
    users: frozenset[str] = frozenset(),
    agents: frozenset[str] = frozenset(),
) -> ApiKey:
    return ApiKey(
        id=key_id,
        tenant=tenant,
        name=f"key {key_id} of \"{tenant}\" ('ops')",
        role=role,
        secret_hash=f"sha256:{key_id}",
        created_at=NOW + timedelta(minutes=minutes),
        users=users,
        agents=agents,
        created_by="root",
    )


async def test_api_keys_round_trip_list_and_revoke(graph_store: GraphStore) -> None:
    store = cast(CredentialStore, graph_store)
    ingest = _key("0a1b2c3d4e5f", "acme", 1, Role.WRITE, users=frozenset({"alice", "bob"}))
    admin = _key("ffffffffffff", "acme", 0, Role.ADMIN)
    tie = _key("000000000000", "acme", 1)  # same created_at as ingest: the id orders
    reader = _key("123456789abc", "globex", 0, agents=frozenset({"coach", "o'brien"}))
    for k in (ingest, admin, tie, reader):
        await store.put_api_key(k)
    assert await store.get_api_key(ingest.id) == ingest
    assert await store.get_api_key(reader.id) == reader
    assert await store.get_api_key("nope") is None
    assert await store.list_api_keys("acme") == [admin, tie, ingest]
    assert await store.list_api_keys("globex") == [reader]
    assert await store.list_api_keys("initech") == []
    assert await store.list_api_keys("") == [reader, admin, tie, ingest]  # created_at, then id

    revoked = await store.revoke_api_key(ingest.id, NOW + DAY, "admin")
    assert revoked == replace(ingest, revoked_at=NOW + DAY, revoked_by="admin")
    assert revoked is not None and not revoked.active
    assert await store.revoke_api_key(ingest.id, NOW + 2 * DAY, "someone") == revoked  # the first stays
    assert await store.get_api_key(ingest.id) == revoked
    assert await store.revoke_api_key("nope", NOW, "admin") is None
    assert await store.list_api_keys("acme") == [admin, tie]
    assert await store.list_api_keys("acme", include_revoked=True) == [admin, tie, revoked]
    assert await store.list_api_keys("", include_revoked=False) == [reader, admin, tie]


async def test_tenants_are_registered_once_and_listed_sorted(graph_store: GraphStore) -> None:
    store = cast(CredentialStore, graph_store)
    assert await store.list_tenants() == []
    for tenant in ("globex", "default", "acme", "globex", "a-1"):
        await store.register_tenant(tenant, NOW)
    await store.register_tenant("acme", NOW + DAY)
    assert await store.list_tenants() == ["a-1", "acme", "default", "globex"]
