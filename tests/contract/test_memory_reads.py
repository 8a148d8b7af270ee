"""The GraphStore contract, MemoryReads: memories by id, scope, hash, metadata filter, time range and
cursor, exactly and in order, whatever the strings hold. Every backend passes the same tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from recalld.kernel.domain import FilterOp, Memory, MetadataFilter, Scope, TimeRange, norm
from recalld.kernel.ports import Cursor, GraphStore
from tests.contract.graph_data import ALICE, BOB, NOW, mem, seed, write


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
