"""The GraphStore contract, MemoryWrites: adds, replacements and deletions keep relations, history
and the index marks whole, and concurrent writes to one memory are a compare-and-set on its
version. Every backend passes the same tests."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from recalld.kernel.domain import EventKind, FilterOp, HistoryEntry, Memory, MemoryState, MetadataFilter, Triple
from recalld.kernel.errors import Conflict, NotFound
from recalld.kernel.ports import GraphStore
from tests.contract.conftest import duplicate_id_error
from tests.contract.graph_data import ALICE, BOB, NOW, mem, seed, update_of, write


async def test_replace_and_delete_update_relations_and_history(graph_store: GraphStore) -> None:
    cold, siamese, _ = await seed(graph_store)
    from dataclasses import replace

    healed = replace(cold, text="Luna recovered.", triples=(Triple("Luna", "recover_from", "cold"),), version=2)
    await graph_store.replace_memory(
        healed, HistoryEntry(cold.id, EventKind.UPDATE, cold.text, healed.text, NOW), expected_version=1
    )
    walks = {w.render() for w in await graph_store.expand(ALICE, ["Luna"], 1, 100)}
    assert walks == {"Luna -recover_from-> cold", "Luna -is_a-> Siamese"}
    assert (await graph_store.get_memories([cold.id], ALICE))[cold.id].speaker == "Alice"  # who said it stays
    done = await graph_store.delete_memories([siamese.id], at=NOW)
    assert done == {siamese.id: 2}
    assert await graph_store.delete_memories([siamese.id], at=NOW) == {}
    assert {w.render() for w in await graph_store.expand(ALICE, ["Luna"], 1, 100)} == {"Luna -recover_from-> cold"}
    gone = await graph_store.get_any(siamese.id, ALICE)
    assert gone is not None and gone.state is MemoryState.DELETED
    history = await graph_store.history(cold.id, ALICE)
    assert history is not None and [h.event for h in history] == [EventKind.ADD, EventKind.UPDATE]
    assert await graph_store.history(cold.id, BOB) is None
    deleted = await graph_store.history(siamese.id, ALICE)
    assert deleted is not None and [(h.event, h.old_text, h.new_text) for h in deleted] == [
        (EventKind.ADD, "", siamese.text),
        (EventKind.DELETE, siamese.text, ""),  # written by the store from the stored text
    ]


async def test_replace_rewrites_metadata_and_hash(graph_store: GraphStore) -> None:
    cold, _, _ = await seed(graph_store)
    new = replace(cold, text="Luna is fine.", content_hash="luna is fine.", metadata={"mood": "ok"}, version=2)
    await graph_store.replace_memory(
        new, HistoryEntry(cold.id, EventKind.UPDATE, cold.text, new.text, NOW), expected_version=1
    )
    got = await graph_store.get_memories([cold.id], ALICE, [MetadataFilter("mood", FilterOp.EQ, "ok")])
    assert got[cold.id].metadata == {"mood": "ok"} and got[cold.id].text == new.text and got[cold.id].version == 2
    assert await graph_store.get_memories([cold.id], ALICE, [MetadataFilter("topic", FilterOp.EQ, "pets")]) == {}
    assert await graph_store.find_by_hash(ALICE, [cold.content_hash, new.content_hash]) == {new.content_hash: cold.id}
    pending = {m.id: v for m, v in (await graph_store.pending_index(10)).upserts}
    assert pending[cold.id] == 2  # the replaced version is what the index must catch up with
    assert await graph_store.memory_entities([cold.id]) == {cold.id: ["alice", "luna", "cold"]}  # same triples


async def test_a_failed_write_leaves_nothing(graph_store: GraphStore) -> None:
    cold, siamese, rex = await seed(graph_store)
    fresh = mem(ALICE, "fresh", ("alice", "owns", "Bicycle"))
    error, message = duplicate_id_error(graph_store)  # each backend reports its own integrity error
    with pytest.raises(error, match=message):
        await write(graph_store, fresh, replace(cold, text="duplicate id"))
    assert await graph_store.get_all([fresh.id]) == []
    assert await graph_store.count_memories() == 3
    assert await graph_store.link_entities(ALICE, ["bicycle"]) == []
    history = await graph_store.history(cold.id, ALICE)
    assert history is not None and [(h.event, h.new_text) for h in history] == [(EventKind.ADD, cold.text)]
    assert (await graph_store.get_memories([cold.id], ALICE))[cold.id] == cold
    assert {m.id for m, _ in (await graph_store.pending_index(100)).upserts} == {cold.id, siamese.id, rex.id}
    assert await graph_store.index_state() == {cold.id: True, siamese.id: True, rex.id: True}  # all active


async def test_concurrent_writes_share_entities(graph_store: GraphStore) -> None:
    ms = [
        mem(ALICE, f"likes {i}", ("alice", "likes", f"thing {i}"), ("Thing 0", "near", f"thing {i}")) for i in range(8)
    ]
    await asyncio.gather(*(write(graph_store, m) for m in ms))
    sub = await graph_store.subgraph(ALICE, "alice", 1, 100)
    assert sub is not None and len(sub.nodes) == 9 and len(sub.edges) == 8
    assert len(await graph_store.expand(ALICE, ["alice"], 1, 100)) == 8
    assert await graph_store.count_memories() == 8


# -- concurrent writes to one memory: compare-and-set on the version ----------------------------------


async def _nothing_of(store: GraphStore, m: Memory) -> None:
    """No read path shows a relation of ``m``, and nothing is left for the index but its tombstone."""
    assert await store.memory_entities([m.id]) == {}
    walks = await store.expand(m.scope, ["alice", "Luna", "Mars"], 3, 100)
    assert all(e.memory_id != m.id for w in walks for e in w.edges)
    sub = await store.subgraph(m.scope, "alice", 3, 100)
    assert sub is None or all(e.memory_id != m.id for e in sub.edges)
    assert await store.get_memories([m.id], m.scope) == {}
    targets = await store.index_targets([m.id])
    assert targets.upserts == () and [i for i, _ in targets.deletes] == [m.id]


async def test_update_after_delete_is_not_found_and_changes_nothing(graph_store: GraphStore) -> None:
    cold, _, _ = await seed(graph_store)
    assert await graph_store.delete_memories([cold.id], at=NOW) == {cold.id: 2}
    new, entry = update_of(cold, "Luna flew to Mars.", ("Luna", "fly_to", "Mars"))
    with pytest.raises(NotFound):
        await graph_store.replace_memory(new, entry, expected_version=1)
    await _nothing_of(graph_store, cold)
    assert await graph_store.link_entities(ALICE, ["Mars"]) == []
    history = await graph_store.history(cold.id, ALICE)
    assert history is not None and [h.event for h in history] == [EventKind.ADD, EventKind.DELETE]
    gone = await graph_store.get_any(cold.id, ALICE)
    assert gone is not None and gone.version == 2 and gone.text == cold.text and gone.state is MemoryState.DELETED


async def test_delete_after_update_deletes_the_updated_memory(graph_store: GraphStore) -> None:
    cold, _, _ = await seed(graph_store)
    new, entry = update_of(cold, "Luna is healthy again.", ("Luna", "be", "healthy"))
    await graph_store.replace_memory(new, entry, expected_version=1)
    # A delete based on the version before the update applies nothing.
    assert await graph_store.delete_memories([cold.id], at=NOW, expected_versions={cold.id: 1}) == {}
    assert await graph_store.delete_memories([cold.id], at=NOW, expected_versions={cold.id: 2}) == {cold.id: 3}
    await _nothing_of(graph_store, cold)
    history = await graph_store.history(cold.id, ALICE)
    assert history is not None and [(h.event, h.old_text) for h in history] == [
        (EventKind.ADD, ""),
        (EventKind.UPDATE, cold.text),
        (EventKind.DELETE, new.text),
    ]


async def test_a_stale_update_is_a_conflict_and_changes_nothing(graph_store: GraphStore) -> None:
    cold, _, _ = await seed(graph_store)
    first, e1 = update_of(cold, "Luna is healthy again.", ("Luna", "be", "healthy"))
    second, e2 = update_of(cold, "Luna flew to Mars.", ("Luna", "fly_to", "Mars"))  # also based on version 1
    await graph_store.replace_memory(first, e1, expected_version=1)
    with pytest.raises(Conflict):
        await graph_store.replace_memory(second, e2, expected_version=1)
    got = (await graph_store.get_memories([cold.id], ALICE))[cold.id]
    assert (got.text, got.version) == (first.text, 2)
    assert await graph_store.link_entities(ALICE, ["Mars"]) == []
    history = await graph_store.history(cold.id, ALICE)
    assert history is not None and [h.new_text for h in history] == [cold.text, first.text]


async def test_concurrent_updates_and_deletes_leave_one_consistent_story(graph_store: GraphStore) -> None:
    """Many memories, each hit by two updates and a delete at once: per memory at most one update
    applies before the delete, versions are never reused, and the deleted memory keeps nothing."""
    ms = [mem(ALICE, f"Friend {i} visits.", ("alice", "has_friend", f"Tom{i}")) for i in range(12)]
    await write(graph_store, *ms)
    outcomes: dict[str, list[str]] = {m.id: [] for m in ms}

    async def update(m: Memory, n: int) -> None:
        new, entry = update_of(m, f"Friend {m.id[:4]} moved ({n}).", ("alice", "has_friend", f"Ann{n}"))
        try:
            await graph_store.replace_memory(new, entry, expected_version=1)
            outcomes[m.id].append("updated")
        except Conflict:
            outcomes[m.id].append("conflict")
        except NotFound:
            outcomes[m.id].append("not_found")

    async def delete(m: Memory) -> None:
        done = await graph_store.delete_memories([m.id], at=NOW)
        outcomes[m.id].append(f"deleted v{done[m.id]}" if m.id in done else "nothing")

    await asyncio.gather(*(c for m in ms for c in (update(m, 1), update(m, 2), delete(m))))
    for m in ms:
        got = outcomes[m.id]
        assert got.count("updated") <= 1, got
        (deleted,) = [o for o in got if o.startswith("deleted")]
        assert deleted == f"deleted v{1 + got.count('updated') + 1}", got  # versions never reused
        await _nothing_of(graph_store, m)
        history = await graph_store.history(m.id, ALICE)
        assert history is not None
        events = [h.event for h in history]
        assert events[-1] is EventKind.DELETE and events.count(EventKind.DELETE) == 1, events
        assert events[1:-1] == [EventKind.UPDATE] * got.count("updated"), events
    assert await graph_store.subgraph(ALICE, "alice", 2, 100) is None
    assert await graph_store.count_memories() == 0
