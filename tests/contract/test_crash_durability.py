"""The GraphStore contract under a crash (SIGKILL of the writer process or of the server): what was
acknowledged survives, and whatever is there is whole. Every backend passes the same tests."""

from __future__ import annotations

import asyncio
import os
import random
from typing import TYPE_CHECKING

from recalld.kernel.domain import EventKind, Memory, MemoryState
from recalld.kernel.errors import Unavailable
from tests.contract.graph_data import ALICE, BOB, NOW, mem, seed, write

if TYPE_CHECKING:
    from tests.contract.conftest import CrashableStore


async def test_acknowledged_writes_survive_a_crash(crashable_graph_store: CrashableStore) -> None:
    writer = await crashable_graph_store.start_writer()  # embedded: a child process does the writes
    cold, siamese, rex = await seed(writer)
    assert await writer.delete_memories([rex.id], at=NOW) == {rex.id: 2}
    assert await writer.mark_indexed({siamese.id: 1}) == set()
    await crashable_graph_store.crash()  # SIGKILL: the writer process, or the FalkorDB server
    store = await crashable_graph_store.reopen()
    assert await store.index_state() == {cold.id: True, siamese.id: True, rex.id: False}  # rex: deleted
    assert (await store.get_memories([cold.id, siamese.id], ALICE)) == {cold.id: cold, siamese.id: siamese}
    assert await store.get_memories([rex.id], BOB) == {}
    gone = await store.get_any(rex.id, BOB)
    assert gone is not None and (gone.state, gone.version) == (MemoryState.DELETED, 2)
    assert {w.render() for w in await store.expand(ALICE, ["alice"], 1, 10)} == {"alice -has_pet-> Luna"}
    assert await store.expand(BOB, ["bob"], 1, 10) == []  # the deleted memory's relations went with it
    pending = await store.pending_index(10)  # the mark of siamese survived too
    assert [m.id for m, _ in pending.upserts] == [cold.id] and pending.deletes == ((rex.id, 2),)
    history = await store.history(rex.id, BOB)
    assert history is not None and [h.event for h in history] == [EventKind.ADD, EventKind.DELETE]


def crash_seed() -> int:
    """The seed of a crash test's random choices: RECALLD_CRASH_SEED reproduces a run."""
    seed = int(os.environ.get("RECALLD_CRASH_SEED") or random.randrange(1 << 30))
    print(f"RECALLD_CRASH_SEED={seed}")  # shown with the failure
    return seed


async def test_a_crash_mid_stream_leaves_only_whole_memories(crashable_graph_store: CrashableStore) -> None:
    """Writes one memory after another, and after a (seeded) random number of acknowledgements
    sends one more and kills the backend a (seeded) random fraction of a write later: every
    acknowledged memory survives, every memory there is whole (its relations and its history),
    and no relation is left of one that is not."""
    seed = crash_seed()
    rng = random.Random(seed)
    kill_after, delay = rng.randint(5, 40), rng.uniform(0, 0.003)  # a write takes ~1 ms
    ctx = f"RECALLD_CRASH_SEED={seed}: killed {delay * 1000:.2f} ms into the write after {kill_after} acknowledged"
    writer = await crashable_graph_store.start_writer()
    attempted = [
        mem(ALICE, f"fact {i}", ("alice", "knows", f"thing {i}"), (f"thing {i}", "is", "real"), minutes=i)
        for i in range(kill_after + 1)
    ]
    acked: list[Memory] = []
    for m in attempted[:-1]:
        await write(writer, m)
        acked.append(m)
    killer = crashable_graph_store.crash_in(delay)
    in_flight = asyncio.create_task(write(writer, attempted[-1]))
    await asyncio.to_thread(killer.join)
    await crashable_graph_store.crash()
    try:
        await asyncio.wait_for(in_flight, 60)
        acked.append(attempted[-1])  # its acknowledgement was on its way before the kill
    except Unavailable:
        pass  # the backend went away mid-write: not acknowledged, may or may not be there
    store = await crashable_graph_store.reopen()
    present = {m.id for m in await store.get_all([m.id for m in attempted])}
    assert {m.id for m in acked} <= present, ctx  # nothing acknowledged is lost
    entities = await store.memory_entities([m.id for m in attempted])
    for m in attempted:  # whatever is there is whole: memory, relations, history
        if m.id in present:
            assert entities.get(m.id) == ["alice", m.text.replace("fact", "thing"), "real"], ctx
            history = await store.history(m.id, ALICE)
            assert history is not None and [h.event for h in history] == [EventKind.ADD], ctx
        else:  # and of what is not there, no relation is left
            assert m.id not in entities, ctx
    walks = await store.expand(ALICE, ["alice"], 1, 1000)
    assert len(walks) == len(present) and {e.memory_id for w in walks for e in w.edges} == present, ctx
    assert set(await store.index_state()) == present, ctx  # no other memory record
    assert await store.count_memories() == len(present), ctx
