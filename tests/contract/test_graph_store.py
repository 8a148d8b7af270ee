"""The GraphStore contract: every backend passes the same tests."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from recalld.kernel.domain import (
    Episode,
    EventKind,
    FilterOp,
    HistoryEntry,
    Memory,
    MemoryState,
    MetadataFilter,
    Scope,
    TimeRange,
    Triple,
    norm,
)
from recalld.kernel.errors import Conflict, NotFound, Unavailable
from recalld.kernel.ports import Cursor, GraphStore
from recalld.kernel.walks import Walks
from tests.contract.conftest import duplicate_id_error

if TYPE_CHECKING:
    from tests.contract.conftest import CrashableStore, GraphWriter

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


def mem(
    scope: Scope, text: str, *triples: tuple[str, str, str], minutes: int = 0, speaker: str = "", **meta: object
) -> Memory:
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
        speaker=speaker,
    )


async def write(store: GraphWriter, *memories: Memory) -> None:
    scope = memories[0].scope
    episode = Episode(str(uuid.uuid4()), scope, (), {}, NOW, NOW)
    await store.add_memories(episode, memories, [HistoryEntry(m.id, EventKind.ADD, "", m.text, NOW) for m in memories])


async def seed(store: GraphWriter) -> tuple[Memory, Memory, Memory]:
    cold = mem(
        ALICE,
        "My cat Luna caught a cold.",
        ("alice", "has_pet", "Luna"),
        ("Luna", "catch", "cold"),
        speaker="Alice",
        topic="pets",
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


# -- behaviours the tests above do not pin down ------------------------------------------------------


async def _ids_matching(store: GraphStore, ids: list[str], *filters: MetadataFilter) -> set[str]:
    got = await store.get_memories(ids, ALICE, filters)
    listed = await store.list_memories(ALICE, list(filters), 100, None)
    assert {m.id for m in listed} == set(got)
    return set(got)


async def test_metadata_filters_compare_like_json_values(graph_store: GraphStore) -> None:
    a = mem(ALICE, "a", n=1, s="apple", flag=True, tags=["x"], nothing=None)
    b = mem(ALICE, "b", n=2.5, s="banana")
    c = mem(ALICE, "c", n="10", s=3)
    d = mem(ALICE, "d")
    e = mem(ALICE, "e", n=2, flag=False)
    await write(graph_store, a, b, c, d, e)
    await write(graph_store, mem(BOB, "bob", n=1, s="apple"))
    ids = [x.id for x in (a, b, c, d, e)]
    name = {x.id: x.text for x in (a, b, c, d, e)}

    async def match(key: str, op: FilterOp, value: object) -> set[str]:
        return {name[i] for i in await _ids_matching(graph_store, ids, MetadataFilter(key, op, value))}

    assert await match("n", FilterOp.EQ, 2.5) == {"b"}
    assert await match("n", FilterOp.EQ, 2.0) == {"e"}  # 2 == 2.0
    assert await match("n", FilterOp.NE, 2) == {"a", "b", "c", "d"}  # missing counts as "not equal"
    assert await match("n", FilterOp.GTE, 2) == {"b", "c", "e"}  # every string sorts after every number
    assert await match("n", FilterOp.LT, 2) == {"a"}
    assert await match("n", FilterOp.GTE, "1") == {"c"}
    assert await match("n", FilterOp.LT, "5") == {"a", "b", "c", "e"}
    assert await match("s", FilterOp.GT, "b") == {"b"}
    assert await match("s", FilterOp.LTE, "apple") == {"a", "c"}
    assert await match("s", FilterOp.IN, ["apple", 3, "nope"]) == {"a", "c"}
    assert await match("flag", FilterOp.EQ, True) == {"a"}
    assert await match("flag", FilterOp.EQ, 1) == {"a"}  # JSON true compares as 1
    assert await match("flag", FilterOp.EQ, False) == {"e"}
    assert await match("flag", FilterOp.NE, True) == {"b", "c", "d", "e"}
    assert await match("nothing", FilterOp.EQ, "x") == set()
    assert await match("nothing", FilterOp.NE, "x") == {"a", "b", "c", "d", "e"}
    assert await match("tags", FilterOp.EQ, "x") == set()
    both = await _ids_matching(
        graph_store, ids, MetadataFilter("n", FilterOp.GT, 1), MetadataFilter("s", FilterOp.EQ, "banana")
    )
    assert both == {b.id}


async def test_time_range_bounds_reference_time(graph_store: GraphStore) -> None:
    t0 = NOW.replace(microsecond=123457)
    ms = [replace(mem(ALICE, f"m{i}"), reference_time=t0 + timedelta(minutes=i)) for i in range(3)]
    await write(graph_store, *ms)
    ids = [m.id for m in ms]
    got = await graph_store.get_memories(ids, ALICE)
    assert [got[i].reference_time for i in ids] == [m.reference_time for m in ms]  # microseconds kept

    async def within(start: datetime | None, end: datetime | None) -> set[str]:
        return {m.text for m in (await graph_store.get_memories(ids, ALICE, (), TimeRange(start, end))).values()}

    assert await within(ms[1].reference_time, None) == {"m1", "m2"}  # inclusive start
    assert await within(None, ms[2].reference_time) == {"m0", "m1"}  # exclusive end
    assert await within(ms[1].reference_time, ms[2].reference_time) == {"m1"}
    assert await within(ms[1].reference_time + timedelta(microseconds=1), None) == {"m2"}


async def test_list_paginates_newest_first_with_a_cursor(graph_store: GraphStore) -> None:
    ms = [mem(ALICE, f"m{i}", minutes=i // 2, even=i % 2 == 0) for i in range(7)]  # pairs share created_at
    await write(graph_store, *ms)
    await write(graph_store, mem(BOB, "bob", minutes=99))
    expected = sorted(ms, key=lambda m: (m.created_at, m.id), reverse=True)
    seen: list[Memory] = []
    after: Cursor | None = None
    while page := await graph_store.list_memories(ALICE, [], 2, after):
        assert len(page) <= 2
        seen += page
        after = Cursor(page[-1].created_at, page[-1].id)
    assert [m.id for m in seen] == [m.id for m in expected]
    evens = await graph_store.list_memories(ALICE, [MetadataFilter("even", FilterOp.EQ, True)], 2, None)
    assert [m.id for m in evens] == [m.id for m in expected if m.metadata["even"]][:2]


HOSTILE = [
    "o'brien\"}) DETACH DELETE n //",
    '`x` $p {a: 1} \\ \\" ${x}',
    " padded  ",
    "nul\x00byte \x01 and \x7f",
    "line\nbreak\r\ttab",
    "émoji 😀 ﷽",
    "",
]


async def test_hostile_strings_are_data(graph_store: GraphStore) -> None:
    user = Scope(user_id=HOSTILE[0], agent_id=HOSTILE[2])
    near = Scope(user_id="o'brien")
    long_name = "L" * 5000
    triples = [("Me", "knows", h) for h in HOSTILE if h.strip()] + [("Me", "pred'}`", long_name)]
    # (no NUL in filtered metadata: SQLite's json_extract stops at NUL, so the embedded store can't match it)
    odd = HOSTILE[4] + " \x01 ' `"
    m = mem(user, "\n".join(HOSTILE), *triples, **{"k-1": odd, "k_2": HOSTILE[1], "k3": HOSTILE[3]})
    m = replace(m, content_hash=" " + HOSTILE[3])
    await write(graph_store, m)
    await write(graph_store, mem(near, "near", ("Me", "knows", "someone")))
    assert (await graph_store.get_memories([m.id], user))[m.id] == m
    assert await graph_store.get_memories([m.id], near) == {}
    assert await graph_store.find_scope_ids(Scope(user_id=HOSTILE[0])) == [m.id]
    assert await graph_store.find_by_hash(user, [m.content_hash]) == {m.content_hash: m.id}
    for key, value in (("k-1", odd), ("k_2", HOSTILE[1])):
        assert set(await graph_store.get_memories([m.id], user, [MetadataFilter(key, FilterOp.EQ, value)])) == {m.id}
    assert await graph_store.get_memories([m.id], user, [MetadataFilter("k-1", FilterOp.GT, odd)]) == {}
    names = [h for h in HOSTILE if h.strip()] + [long_name, "nobody"]
    assert await graph_store.link_entities(user, names) == [norm(n) for n in names[:-1]]
    walks = {w.render() for w in await graph_store.expand(user, ["me"], 1, 100)}
    assert walks == {f"Me -knows-> {h}" for h in HOSTILE if h.strip()} | {f"Me -pred'}}`-> {long_name}"}
    assert {w.render() for w in await graph_store.expand(near, ["me"], 1, 100)} == {"Me -knows-> someone"}
    paths = await graph_store.paths_between(user, HOSTILE[3], HOSTILE[4], 2, 10)
    assert paths is not None and [p.render() for p in paths] == [f"{HOSTILE[3]} <-knows- Me -knows-> {HOSTILE[4]}"]
    sub = await graph_store.subgraph(user, long_name, 1, 10)
    assert sub is not None and {n.name for n in sub.nodes} == {"Me", long_name}
    history = await graph_store.history(m.id, user)
    assert history is not None and [h.new_text for h in history] == [m.text]


async def test_expand_walks_shortest_first_across_seeds(graph_store: GraphStore) -> None:
    chain = mem(ALICE, "chain", ("a", "r1", "b"), ("b", "r2", "c"), ("c", "r3", "d"), ("a", "r4", "x"))
    twin = mem(ALICE, "twin", ("a", "r1", "b"), ("d", "r5", "a"), minutes=1)  # a parallel edge, and a cycle
    await write(graph_store, chain, twin)
    walks = await graph_store.expand(ALICE, ["a", "d"], 3, 1000)
    # every seed's one-edge walks (seed order), then their two-edge walks, then three
    assert [(len(w.edges), w.start) for w in walks] == sorted(
        ((len(w.edges), w.start) for w in walks), key=lambda k: (k[0], ["a", "d"].index(k[1]))
    )
    rendered = [w.render() for w in walks if w.start == "a"]
    assert rendered.count("a -r1-> b") == 2  # one walk per stored relation
    assert "a <-r5- d" in rendered and "a -r1-> b -r2-> c -r3-> d" in rendered
    assert not any(r.count(" a") or r.endswith("-> a") for r in rendered)  # no entity visited twice
    assert (len(rendered), len(set(rendered))) == (10, 7)  # 4 + 3 + 3 walks, parallel edges counted twice
    first = await graph_store.expand(ALICE, ["a", "d"], 3, 3)
    assert len(first) == 3 and all(w.start == "a" and len(w.edges) == 1 for w in first)
    # a hub's longer walks never crowd out another seed's direct relations: a's four one-edge
    # walks, d's two, then the first two-edge walks
    cut = await graph_store.expand(ALICE, ["a", "d"], 3, 8)
    assert [(w.start, len(w.edges)) for w in cut] == [("a", 1)] * 4 + [("d", 1)] * 2 + [("a", 2)] * 2
    assert {w.render() for w in cut if w.start == "d"} == {"d <-r3- c", "d -r5-> a"}
    assert await graph_store.expand(ALICE, ["nobody"], 2, 10) == []
    assert await graph_store.expand(ALICE, ["nobody", "d"], 1, 10) == [w for w in walks if w.start == "d"][:2]


async def test_walks_as_index_tuples_are_the_walks_of_expand(graph_store: GraphStore) -> None:
    """``expand_walks`` (an optional capability: the embedded store has it) gives exactly the walks
    of ``expand``, in its order, each relation once; a store without it converts its paths."""
    chain = mem(ALICE, "chain", ("a", "r1", "b"), ("b", "r2", "c"), ("c", "r3", "d"), ("a", "r4", "x"))
    twin = mem(ALICE, "twin", ("a", "r1", "b"), ("d", "r5", "a"), minutes=1)
    await write(graph_store, chain, twin)
    for seeds, depth, cap in ((["a", "d"], 3, 1000), (["a", "d"], 3, 12), (["d", "nobody"], 2, 5), (["x"], 1, 1)):
        paths = await graph_store.expand(ALICE, seeds, depth, cap)
        walking = getattr(graph_store, "expand_walks", None)
        walks = await walking(ALICE, seeds, depth, cap) if walking is not None else Walks.of(paths)
        assert len(walks) == len(paths) and walks.paths() == paths
        crossed = [e for s in walks.steps for e in s]
        assert list(dict.fromkeys(crossed)) == list(range(len(walks.edges)))  # first crossed first
        if walking is not None:  # each relation once
            assert len({(e.subject, e.predicate, e.object, e.memory_id) for e in walks.edges}) == len(walks.edges)


async def test_subgraph_depth_limit_and_entity_types(graph_store: GraphStore) -> None:
    await write(
        graph_store,
        mem(ALICE, "one", ("alice", "has_pet", "Luna"), ("Luna", "catch", "cold")),
        replace(
            mem(ALICE, "two"),
            triples=(Triple("Luna", "is_a", "Siamese", "animal", "breed"), Triple("cold", "is", "mild", "concept")),
        ),
    )
    await write(graph_store, mem(Scope(user_id="alice", agent_id="vet"), "vet", ("Luna", "sees", "vet")))
    one = await graph_store.subgraph(ALICE, "LUNA", 1, 100)
    assert one is not None and {e.predicate for e in one.edges} == {"has_pet", "catch", "is_a", "sees"}
    two = await graph_store.subgraph(ALICE, "luna", 2, 100)
    assert two is not None and {e.predicate for e in two.edges} == {"has_pet", "catch", "is_a", "sees", "is"}
    # a generic type ("entity", "concept") is refined by a later triple, a specific one is kept
    assert {(n.name, n.type) for n in two.nodes} >= {("Luna", "animal"), ("Siamese", "breed"), ("cold", "concept")}
    vet_only = Scope(user_id="alice", agent_id="tutor")
    assert await graph_store.subgraph(vet_only, "Luna", 2, 100) is None  # no relation visible
    capped = await graph_store.subgraph(ALICE, "Luna", 2, 2)
    assert capped is not None and len(capped.edges) == 2 and len(capped.nodes) == 3


async def test_paths_between_shortest_first(graph_store: GraphStore) -> None:
    await write(
        graph_store,
        mem(ALICE, "p", ("a", "r", "b"), ("b", "r", "c"), ("a", "s", "c"), ("c", "t", "d"), ("x", "u", "y")),
    )
    paths = await graph_store.paths_between(ALICE, "A", "c", 3, 10)
    assert paths is not None and [p.render() for p in paths] == ["a -s-> c", "a -r-> b -r-> c"]
    assert await graph_store.paths_between(ALICE, "a", "c", 1, 10) == [paths[0]]
    assert await graph_store.paths_between(ALICE, "a", "c", 3, 1) == [paths[0]]
    assert await graph_store.paths_between(ALICE, "a", "y", 4, 10) == []
    same = await graph_store.paths_between(ALICE, "a", "A", 3, 10)
    assert same is not None and [p.render() for p in same] == ["a"]
    assert await graph_store.paths_between(BOB, "a", "c", 3, 10) is None


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


async def test_lookups_are_exact_and_ordered(graph_store: GraphStore) -> None:
    cold, siamese, rex = await seed(graph_store)
    tutor = Scope(user_id="alice", agent_id="tutor")
    lesson = mem(tutor, "my cat luna caught a cold.", ("alice", "studies", "Algebra"))
    await write(graph_store, lesson)
    assert await graph_store.find_by_hash(ALICE, [lesson.content_hash]) == {cold.content_hash: cold.id}
    assert await graph_store.find_by_hash(tutor, [lesson.content_hash]) == {lesson.content_hash: lesson.id}
    assert set(await graph_store.find_scope_ids(ALICE)) == {cold.id, siamese.id, lesson.id}
    assert await graph_store.find_scope_ids(tutor) == [lesson.id]
    assert await graph_store.memory_entities([cold.id, siamese.id, "missing"]) == {
        cold.id: ["alice", "luna", "cold"],
        siamese.id: ["luna", "siamese"],
    }
    assert await graph_store.link_entities(ALICE, ["Cold", "ALGEBRA", "cold", "Rex"]) == ["cold", "algebra"]
    assert {m.id for m in await graph_store.get_all([rex.id, cold.id, rex.id])} == {rex.id, cold.id}
    assert await graph_store.get_any(rex.id, ALICE) is None


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


# -- concurrent writes to one memory: compare-and-set on the version ----------------------------------


def _update_of(m: Memory, text: str, *triples: tuple[str, str, str]) -> tuple[Memory, HistoryEntry]:
    new = replace(
        m, text=text, content_hash=text.casefold(), triples=tuple(Triple(*t) for t in triples), version=m.version + 1
    )
    return new, HistoryEntry(m.id, EventKind.UPDATE, m.text, text, NOW)


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
    new, entry = _update_of(cold, "Luna flew to Mars.", ("Luna", "fly_to", "Mars"))
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
    new, entry = _update_of(cold, "Luna is healthy again.", ("Luna", "be", "healthy"))
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
    first, e1 = _update_of(cold, "Luna is healthy again.", ("Luna", "be", "healthy"))
    second, e2 = _update_of(cold, "Luna flew to Mars.", ("Luna", "fly_to", "Mars"))  # also based on version 1
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
        new, entry = _update_of(m, f"Friend {m.id[:4]} moved ({n}).", ("alice", "has_friend", f"Ann{n}"))
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


async def test_marks_of_an_outdated_version_are_refused(graph_store: GraphStore) -> None:
    cold, _, _ = await seed(graph_store)
    new, entry = _update_of(cold, "Luna is healthy again.")
    await graph_store.replace_memory(new, entry, expected_version=1)
    assert await graph_store.mark_indexed({cold.id: 1}) == {cold.id}  # the vector of version 1 is stale
    assert cold.id in {m.id for m, _ in (await graph_store.pending_index(10)).upserts}
    await graph_store.delete_memories([cold.id], at=NOW)
    assert await graph_store.mark_indexed({cold.id: 2}) == {cold.id}
    assert await graph_store.mark_indexed({cold.id: 3}) == set()
    assert (await graph_store.index_targets([cold.id, "unknown"])).deletes == ((cold.id, 3),)
