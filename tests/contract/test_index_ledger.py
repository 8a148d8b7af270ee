"""The GraphStore contract, IndexLedger: what the vector index still has to do, by version, and the
marks of an outdated version refused. Every backend passes the same tests."""

from __future__ import annotations

from recalld.kernel.ports import GraphStore
from tests.contract.graph_data import NOW, seed, update_of


async def test_pending_index_tracks_versions(graph_store: GraphStore) -> None:
    cold, siamese, rex = await seed(graph_store)
    pending = await graph_store.pending_index(100)
    assert {m.id for m, _ in pending.upserts} == {cold.id, siamese.id, rex.id}
    stale = await graph_store.mark_indexed({cold.id: 1, siamese.id: 1, rex.id: 99})
    assert stale == {rex.id}  # rex: not at version 99, not marked
    pending = await graph_store.pending_index(100)
    assert [m.id for m, _ in pending.upserts] == [rex.id]
    await graph_store.delete_memories([cold.id], at=NOW)
    pending = await graph_store.pending_index(100)
    assert pending.deletes == ((cold.id, 2),)
    assert await graph_store.mark_indexed({cold.id: 2, rex.id: 1}) == set()
    pending = await graph_store.pending_index(100)
    assert pending.upserts == () and pending.deletes == ()
    assert await graph_store.index_state() == {cold.id: False, siamese.id: True, rex.id: True}


async def test_marks_of_an_outdated_version_are_refused(graph_store: GraphStore) -> None:
    cold, _, _ = await seed(graph_store)
    new, entry = update_of(cold, "Luna is healthy again.")
    await graph_store.replace_memory(new, entry, expected_version=1)
    assert await graph_store.mark_indexed({cold.id: 1}) == {cold.id}  # the vector of version 1 is stale
    assert cold.id in {m.id for m, _ in (await graph_store.pending_index(10)).upserts}
    await graph_store.delete_memories([cold.id], at=NOW)
    assert await graph_store.mark_indexed({cold.id: 2}) == {cold.id}
    assert await graph_store.mark_indexed({cold.id: 3}) == set()
    assert (await graph_store.index_targets([cold.id, "unknown"])).deletes == ((cold.id, 3),)
