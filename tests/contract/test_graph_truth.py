"""The GraphStore contract for memory that stays true: validity (current, as_of, retired),
retirement as a compare-and-set inside the Add, reinforcement, aliases, cascades and graph
drift. Every backend passes the same tests."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from recalld.kernel.domain import (
    ANY_VALIDITY,
    CURRENT,
    Episode,
    EventKind,
    HistoryEntry,
    Memory,
    Scope,
    Validity,
    norm,
)
from recalld.kernel.errors import Conflict
from recalld.kernel.ports import GraphStore, Retirement
from tests.contract.graph_data import ALICE, NOW, mem, write

if TYPE_CHECKING:
    from tests.contract.conftest import GraphWriter

DAY = timedelta(days=1)


async def add(
    store: GraphWriter,
    *memories: Memory,
    retire: tuple[Retirement, ...] = (),
    reinforce: tuple[str, ...] = (),
    aliases: dict[str, str] | None = None,
    scope: Scope = ALICE,
) -> Episode:
    episode = Episode(str(uuid.uuid4()), scope, (), {}, NOW + 30 * DAY, NOW + 30 * DAY)
    history = [HistoryEntry(m.id, EventKind.ADD, "", m.text, episode.created_at, "tutor", "new_fact", episode.id)
               for m in memories]  # fmt: skip
    history += [
        HistoryEntry(r.memory_id, EventKind.INVALIDATE, "", "", episode.created_at, "tutor", r.rule, episode.id)
        for r in retire
    ]
    await store.add_memories(episode, memories, history, retire=retire, reinforce=reinforce, aliases=aliases or {})
    return episode


async def berlin_then_paris(store: GraphWriter) -> tuple[Memory, Memory]:
    berlin = mem(ALICE, "I live in Berlin.", ("alice", "live_in", "Berlin"))
    await write(store, berlin)
    paris = mem(ALICE, "I moved to Paris.", ("alice", "move_to", "Paris"), minutes=60 * 24 * 20)
    moved = NOW + 20 * DAY
    await add(store, paris, retire=(Retirement(berlin.id, 1, moved, paris.id, "single_valued:lives_in"),))
    return berlin, paris


async def test_a_retired_memory_stays_readable_with_its_validity(graph_store: GraphStore) -> None:
    berlin, paris = await berlin_then_paris(graph_store)
    old = (await graph_store.get_memories([berlin.id], ALICE))[berlin.id]
    assert old.valid_to == NOW + 20 * DAY
    assert old.retired_at == NOW + 30 * DAY
    assert old.superseded_by == paris.id
    assert old.retired_by_rule == "single_valued:lives_in"
    assert old.version == 2  # re-indexed with its validity
    assert not old.current
    new = (await graph_store.get_memories([paris.id], ALICE))[paris.id]
    assert new.current and new.valid_to is None


async def test_validity_filters_current_as_of_and_retired(graph_store: GraphStore) -> None:
    berlin, paris = await berlin_then_paris(graph_store)
    ids = [berlin.id, paris.id]
    assert set(await graph_store.get_memories(ids, ALICE, validity=CURRENT)) == {paris.id}
    assert set(await graph_store.get_memories(ids, ALICE, validity=Validity(as_of=NOW + DAY))) == {berlin.id}
    assert set(await graph_store.get_memories(ids, ALICE, validity=Validity(as_of=NOW + 25 * DAY))) == {paris.id}
    assert set(await graph_store.get_memories(ids, ALICE, validity=Validity(as_of=NOW - DAY))) == set()
    assert set(await graph_store.get_memories(ids, ALICE, validity=ANY_VALIDITY)) == {berlin.id, paris.id}
    assert set(await graph_store.get_memories(ids, ALICE)) == {berlin.id, paris.id}  # Get shows both
    listed = await graph_store.list_memories(ALICE, [], 10, None, include_retired=False)
    assert [m.id for m in listed] == [paris.id]
    assert {m.id for m in await graph_store.list_memories(ALICE, [], 10, None)} == {berlin.id, paris.id}


async def test_walks_follow_only_edges_valid_at_the_query_time(graph_store: GraphStore) -> None:
    _berlin, _paris = await berlin_then_paris(graph_store)
    now_paths = await graph_store.expand(ALICE, ["alice"], 1, 10)
    assert {p.edges[0].object for p in now_paths} == {"Paris"}
    then = await graph_store.expand(ALICE, ["alice"], 1, 10, Validity(as_of=NOW + DAY))
    assert {p.edges[0].object for p in then} == {"Berlin"}
    every = await graph_store.expand(ALICE, ["alice"], 1, 10, ANY_VALIDITY)
    edges = {p.edges[0].object: p.edges[0] for p in every}
    assert set(edges) == {"Berlin", "Paris"}
    assert edges["Berlin"].valid_to == NOW + 20 * DAY and edges["Paris"].valid_to is None
    assert await graph_store.paths_between(ALICE, "alice", "Berlin", 2, 5) == []
    assert len(await graph_store.paths_between(ALICE, "alice", "Berlin", 2, 5, ANY_VALIDITY) or []) == 1
    sub = await graph_store.subgraph(ALICE, "alice", 1, 10)
    assert sub is not None and {e.object for e in sub.edges} == {"Paris"}


async def test_the_current_relations_of_a_subject_are_found_for_reconciliation(graph_store: GraphStore) -> None:
    _berlin, paris = await berlin_then_paris(graph_store)
    rels = await graph_store.find_relations(ALICE, ["ALICE"], ["live_in", "move_to"])
    # Berlin is retired
    assert [(r.memory_id, r.subject, r.predicate, r.object) for r in rels] == [(paris.id, "alice", "move_to", "paris")]
    cold = mem(ALICE, "I have a cold.", ("alice", "has", "cold"), minutes=1)
    await add(graph_store, cold)
    assert await graph_store.find_relations(ALICE, ["alice"], ["like"]) == []
    by_object = await graph_store.find_relations(ALICE, ["alice"], [], ["Cold"])
    assert [r.memory_id for r in by_object] == [cold.id]
    assert await graph_store.find_relations(Scope(user_id="bob"), ["alice"], ["move_to"]) == []


async def test_a_retirement_that_lost_a_race_writes_nothing(graph_store: GraphStore) -> None:
    berlin, paris = await berlin_then_paris(graph_store)
    rome = mem(ALICE, "I moved to Rome.", ("alice", "move_to", "Rome"), minutes=5)
    stale = Retirement(paris.id, 99, NOW + 25 * DAY, rome.id, "single_valued:lives_in")
    with pytest.raises(Conflict):
        await add(graph_store, rome, retire=(stale,))
    already = Retirement(berlin.id, 2, NOW + 25 * DAY, rome.id, "single_valued:lives_in")
    with pytest.raises(Conflict):  # right version, but retired already
        await add(graph_store, rome, retire=(already,))
    assert await graph_store.get_memories([rome.id], ALICE) == {}
    assert (await graph_store.get_memories([paris.id], ALICE))[paris.id].current
    assert await graph_store.find_by_hash(ALICE, [rome.content_hash]) == {}


async def test_reinforcement_counts_confirmations_without_a_new_version(graph_store: GraphStore) -> None:
    berlin = mem(ALICE, "I live in Berlin.", ("alice", "live_in", "Berlin"))
    await write(graph_store, berlin)
    episode = await add(graph_store, reinforce=(berlin.id,))
    await add(graph_store, reinforce=(berlin.id,))
    got = (await graph_store.get_memories([berlin.id], ALICE))[berlin.id]
    assert got.confirmations == 3
    assert got.confirmed_at == episode.created_at
    assert got.version == 1


async def test_history_keeps_actor_rule_episode_and_triples(graph_store: GraphStore) -> None:
    berlin, paris = await berlin_then_paris(graph_store)
    history = await graph_store.history(berlin.id, ALICE)
    assert history is not None
    assert [h.event for h in history] == [EventKind.ADD, EventKind.INVALIDATE]
    assert history[1].actor == "tutor" and history[1].rule == "single_valued:lives_in" and history[1].episode_id
    await graph_store.delete_memories([paris.id], at=NOW + 40 * DAY, actor="nurse")
    gone = await graph_store.history(paris.id, ALICE)
    assert gone is not None and gone[-1].event is EventKind.DELETE and gone[-1].actor == "nurse"
    assert [(t.subject, t.predicate, t.object) for t in gone[-1].old_triples] == [("alice", "move_to", "Paris")]


async def test_aliases_resolve_and_show_on_the_entity(graph_store: GraphStore) -> None:
    luna = mem(ALICE, "My cat Luna caught a cold.", ("alice", "has_pet", "Luna"), ("Luna", "catch", "cold"))
    await add(graph_store, luna, aliases={"alice's cat": "Luna", "Luna": "Luna"})
    assert await graph_store.resolve_aliases(ALICE, ["Alice's Cat", "my dog", "Luna"]) == {"Alice's Cat": "Luna"}
    assert await graph_store.resolve_aliases(Scope(user_id="bob"), ["alice's cat"]) == {}  # never across scopes
    sub = await graph_store.subgraph(ALICE, "alice's cat", 1, 10)  # an alias finds the entity
    assert sub is not None
    node = next(n for n in sub.nodes if norm(n.name) == "luna")
    assert node.aliases == ("alice's cat",)


async def test_delete_cascades_to_relations_and_lonely_entities(graph_store: GraphStore) -> None:
    luna = mem(ALICE, "My cat Luna caught a cold.", ("alice", "has_pet", "Luna"), ("Luna", "catch", "cold"))
    hobby = mem(ALICE, "I play chess.", ("alice", "play", "chess"), minutes=1)
    await add(graph_store, luna, hobby, aliases={"alice's cat": "Luna"})
    await graph_store.delete_memories([luna.id], at=NOW + DAY)
    assert await graph_store.subgraph(ALICE, "Luna", 1, 10) is None
    assert await graph_store.link_entities(ALICE, ["Luna", "cold", "alice", "chess"]) == ["alice", "chess"]
    assert await graph_store.resolve_aliases(ALICE, ["alice's cat"]) == {}
    drift = await graph_store.graph_drift()
    assert (drift.orphan_relations, drift.orphan_entities) == (0, 0)


async def test_update_drops_entities_its_old_relations_left_alone(graph_store: GraphStore) -> None:
    siamese = mem(ALICE, "Luna is a Siamese.", ("Luna", "is_a", "Siamese"))
    await write(graph_store, siamese)
    from dataclasses import replace

    persian = replace(
        siamese, text="Luna is a Persian.", triples=(mem(ALICE, "x", ("Luna", "is_a", "Persian")).triples), version=2
    )
    await graph_store.replace_memory(
        persian,
        HistoryEntry(siamese.id, EventKind.UPDATE, siamese.text, persian.text, NOW, old_triples=siamese.triples,
                     new_triples=persian.triples),
        expected_version=1,
    )  # fmt: skip
    assert await graph_store.link_entities(ALICE, ["Siamese", "Persian", "Luna"]) == ["persian", "luna"]
    drift = await graph_store.graph_drift()
    assert (drift.orphan_relations, drift.orphan_entities) == (0, 0)


async def test_walks_and_reads_made_before_a_write_never_hide_it(graph_store: GraphStore) -> None:
    """A store may keep what it derived from earlier reads (the embedded store keeps each walked
    node's edges and each decoded row): every kind of write shows at the next read."""

    async def walks() -> set[str]:
        return {w.render() for w in await graph_store.expand(ALICE, ["alice"], 2, 100)}

    berlin = mem(ALICE, "I live in Berlin.", ("alice", "live_in", "Berlin"))
    await write(graph_store, berlin)
    assert await walks() == {"alice -live_in-> Berlin"}
    assert (await graph_store.get_memories([berlin.id], ALICE))[berlin.id].valid_to is None

    cat = mem(ALICE, "My cat is Luna.", ("alice", "has_pet", "Luna"), ("Luna", "is_a", "cat"), minutes=1)
    await write(graph_store, cat)  # an add
    assert await walks() == {"alice -live_in-> Berlin", "alice -has_pet-> Luna", "alice -has_pet-> Luna -is_a-> cat"}

    paris = mem(ALICE, "I moved to Paris.", ("alice", "move_to", "Paris"), minutes=60 * 24 * 20)
    await add(
        graph_store, paris, retire=(Retirement(berlin.id, 1, NOW + 20 * DAY, paris.id, "single_valued:lives_in"),)
    )
    assert await walks() == {"alice -move_to-> Paris", "alice -has_pet-> Luna", "alice -has_pet-> Luna -is_a-> cat"}
    assert await graph_store.get_memories([berlin.id], ALICE, validity=CURRENT) == {}
    retired = (await graph_store.get_memories([berlin.id], ALICE, validity=ANY_VALIDITY))[berlin.id]
    assert retired.valid_to is not None and retired.superseded_by == paris.id

    await graph_store.touch_memories([cat.id], ALICE, NOW + 21 * DAY)  # a use: no new version
    assert (await graph_store.get_memories([cat.id], ALICE))[cat.id].last_used_at == NOW + 21 * DAY

    assert await graph_store.delete_memories([cat.id], at=NOW + 22 * DAY) == {cat.id: 2}
    assert await walks() == {"alice -move_to-> Paris"}
    assert await graph_store.get_memories([cat.id], ALICE) == {}


async def test_facts_stored_before_the_relation_classes_are_found_in_their_slot(graph_store: GraphStore) -> None:
    """Existing data: slots are computed from the stored predicates, so memories written before
    the relation classes (``employed_by``, ``work_for``, ``join``) are found as one slot on every
    backend, with no migration of what is stored; two employers current at once both come back
    (the policy: both stay current until the next statement of the slot retires them)."""
    from recalld.core.relation_slots import variants
    from recalld.core.settings import ReconcileSettings

    old = [
        mem(ALICE, "I'm employed by Initech.", ("alice", "employed_by", "Initech"), minutes=1),
        mem(ALICE, "I work for Globex.", ("alice", "work_for", "Globex"), minutes=2),
        mem(ALICE, "I joined Umbrella.", ("alice", "join", "Umbrella"), minutes=3),
        mem(ALICE, "I like Hooli.", ("alice", "like", "Hooli"), minutes=4),
    ]
    await add(graph_store, *old)
    wanted = sorted(variants("hired_by", ReconcileSettings()))
    found = {r.object for r in await graph_store.find_relations(ALICE, ["alice"], wanted)}
    assert found == {"initech", "globex", "umbrella"}
