"""The GraphStore contract: every backend passes the same tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from graph.base import GraphStore
from services.domain import Episode, EventKind, HistoryEntry, Memory, MemoryState, Scope, Triple

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


def mem(scope: Scope, text: str, *triples: tuple[str, str, str], minutes: int = 0, **meta: object) -> Memory:
    t = NOW + timedelta(minutes=minutes)
    return Memory(
        id=str(uuid.uuid4()),
        text=text,
        scope=scope,
        metadata=meta,
        created_at=t,
        updated_at=t,
        reference_time=t,
        triples=tuple(Triple(s, p, o) for s, p, o in triples),
        content_hash=text.casefold(),
    )


async def write(store: GraphStore, *memories: Memory) -> None:
    scope = memories[0].scope
    episode = Episode(str(uuid.uuid4()), scope, (), {}, NOW, NOW)
    await store.add_memories(episode, memories, [HistoryEntry(m.id, EventKind.ADD, "", m.text, NOW) for m in memories])


async def seed(store: GraphStore) -> tuple[Memory, Memory, Memory]:
    cold = mem(
        ALICE, "My cat Luna caught a cold.", ("alice", "has_pet", "Luna"), ("Luna", "catch", "cold"), topic="pets"
    )
    siamese = mem(ALICE, "Luna is a Siamese.", ("Luna", "is_a", "Siamese"), minutes=1)
    rex = mem(BOB, "I have a dog named Rex.", ("bob", "has_pet", "Rex"), ("Luna", "visits", "bob"))
    await write(store, cold, siamese)
    await write(store, rex)
    return cold, siamese, rex


async def test_memories_round_trip_and_are_scoped(graph_store: GraphStore) -> None:
    cold, siamese, rex = await seed(graph_store)
    got = await graph_store.get_memories([cold.id, siamese.id, rex.id], ALICE)
    assert set(got) == {cold.id, siamese.id}
    assert got[cold.id] == cold
    assert await graph_store.get_memories([rex.id], ALICE) == {}
    assert await graph_store.find_scope_ids(BOB) == [rex.id]
    assert await graph_store.find_by_hash(ALICE, [cold.content_hash, rex.content_hash]) == {cold.content_hash: cold.id}
    page = await graph_store.list_memories(ALICE, [], 10, None)
    assert [m.id for m in page] == [siamese.id, cold.id]
    assert await graph_store.count_memories() == 3


async def test_traversal_stays_in_the_scope(graph_store: GraphStore) -> None:
    await seed(graph_store)
    walks = await graph_store.expand(ALICE, ["alice"], 2, 100)
    rendered = {w.render() for w in walks}
    assert "alice -has_pet-> Luna -catch-> cold" in rendered
    assert "alice -has_pet-> Luna -is_a-> Siamese" in rendered
    assert not any("bob" in r or "Rex" in r for r in rendered)
    # bob's "Luna" is a different entity in bob's namespace
    bob_walks = {w.render() for w in await graph_store.expand(BOB, ["Luna"], 2, 100)}
    assert bob_walks == {"Luna -visits-> bob", "Luna -visits-> bob -has_pet-> Rex"}
    assert await graph_store.link_entities(ALICE, ["LUNA", "rex", "nobody"]) == ["luna"]


async def test_subgraph_and_paths(graph_store: GraphStore) -> None:
    cold, siamese, _ = await seed(graph_store)
    sub = await graph_store.subgraph(ALICE, "luna", 1, 100)
    assert sub is not None
    assert {(e.subject, e.predicate, e.object) for e in sub.edges} == {
        ("alice", "has_pet", "Luna"),
        ("Luna", "catch", "cold"),
        ("Luna", "is_a", "Siamese"),
    }
    assert {e.memory_id for e in sub.edges} == {cold.id, siamese.id}
    assert await graph_store.subgraph(ALICE, "Rex", 1, 100) is None
    paths = await graph_store.paths_between(ALICE, "alice", "Siamese", 3, 10)
    assert paths is not None and [p.render() for p in paths] == ["alice -has_pet-> Luna -is_a-> Siamese"]
    assert await graph_store.paths_between(ALICE, "alice", "Rex", 3, 10) is None


async def test_replace_and_delete_update_relations_and_history(graph_store: GraphStore) -> None:
    cold, siamese, _ = await seed(graph_store)
    from dataclasses import replace

    healed = replace(cold, text="Luna recovered.", triples=(Triple("Luna", "recover_from", "cold"),), version=2)
    await graph_store.replace_memory(healed, HistoryEntry(cold.id, EventKind.UPDATE, cold.text, healed.text, NOW))
    walks = {w.render() for w in await graph_store.expand(ALICE, ["Luna"], 1, 100)}
    assert walks == {"Luna -recover_from-> cold", "Luna -is_a-> Siamese"}
    done = await graph_store.delete_memories(
        [siamese.id], [HistoryEntry(siamese.id, EventKind.DELETE, siamese.text, "", NOW)]
    )
    assert done == {siamese.id: 2}
    assert await graph_store.delete_memories([siamese.id], []) == {}
    assert {w.render() for w in await graph_store.expand(ALICE, ["Luna"], 1, 100)} == {"Luna -recover_from-> cold"}
    gone = await graph_store.get_any(siamese.id, ALICE)
    assert gone is not None and gone.state is MemoryState.DELETED
    history = await graph_store.history(cold.id, ALICE)
    assert history is not None and [h.event for h in history] == [EventKind.ADD, EventKind.UPDATE]
    assert await graph_store.history(cold.id, BOB) is None


async def test_pending_index_tracks_versions(graph_store: GraphStore) -> None:
    cold, siamese, rex = await seed(graph_store)
    pending = await graph_store.pending_index(100)
    assert {m.id for m, _ in pending.upserts} == {cold.id, siamese.id, rex.id}
    await graph_store.mark_indexed({cold.id: 1, siamese.id: 1, rex.id: 99})  # rex: stale version, not marked
    pending = await graph_store.pending_index(100)
    assert [m.id for m, _ in pending.upserts] == [rex.id]
    await graph_store.delete_memories([cold.id], [])
    pending = await graph_store.pending_index(100)
    assert pending.deletes == ((cold.id, 2),)
    await graph_store.mark_indexed({cold.id: 2, rex.id: 1})
    pending = await graph_store.pending_index(100)
    assert pending.upserts == () and pending.deletes == ()
    assert await graph_store.index_state() == {cold.id: False, siamese.id: True, rex.id: True}
