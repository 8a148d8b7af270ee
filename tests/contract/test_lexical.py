"""GraphStore.lexical_search, the full-text retriever, on every graph backend: what a search by words
finds, what it never returns, and that it stays in step with every write; plus data written before
the index existed (a FalkorDB graph, an embedded database), which gets it when the store opens."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from recalld.kernel.domain import (
    ANY_VALIDITY,
    CURRENT,
    Episode,
    Erasure,
    EventKind,
    FilterOp,
    HistoryEntry,
    MetadataFilter,
    Scope,
    TimeRange,
    Validity,
)
from recalld.kernel.ports import GraphStore, Retirement
from tests.contract.graph_data import ALICE, BOB, NOW, mem, write
from tests.harness import FalkorDBServer

VET = Scope(user_id="alice", agent_id="vet")
VET_RUN = Scope(user_id="alice", agent_id="vet", run_id="r1")
ALICE_ONLY = Scope(user_id="alice", exact=True)


async def search(
    store: GraphStore,
    scope: Scope,
    terms: Sequence[str],
    limit: int = 50,
    filters: Sequence[MetadataFilter] = (),
    time_range: TimeRange | None = None,
    validity: Validity | None = None,
) -> list[str]:
    """The ids lexical_search returns, after checking what every answer promises: at most ``limit``
    distinct ids, scores > 0 and best first."""
    hits = await store.lexical_search(scope, terms, limit, filters, time_range, validity)
    assert len(hits) <= limit
    assert len({i for i, _ in hits}) == len(hits), hits
    assert all(isinstance(s, float) and s > 0 for _, s in hits), hits
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True), hits
    return [i for i, _ in hits]


async def test_a_rare_word_finds_its_memory_and_ranks_it_first(graph_store: GraphStore) -> None:
    sapiens = mem(ALICE, "I finished reading Sapiens last week.")
    boston = mem(ALICE, "We went to a concert in Boston.", minutes=1)
    sunrise = mem(ALICE, "Melanie painted a sunrise in May 2023.", minutes=2)
    common = [mem(ALICE, f"We went to the park with the dog, walk {i}.", minutes=3 + i) for i in range(4)]
    await write(graph_store, sapiens, boston, sunrise, *common)
    assert await search(graph_store, ALICE, ["Sapiens"]) == [sapiens.id]
    assert await search(graph_store, ALICE, ["boston"]) == [boston.id]
    assert await search(graph_store, ALICE, ["2023"]) == [sunrise.id]
    # any of the terms (OR); the memory with the rare one first, above those with only "went"
    found = await search(graph_store, ALICE, ["went", "Boston"])
    assert found[0] == boston.id and set(found) == {boston.id, *(m.id for m in common)}
    found = await search(graph_store, ALICE, ["park", "Sapiens"])
    assert found[0] == sapiens.id and set(found) == {sapiens.id, *(m.id for m in common)}
    assert await search(graph_store, ALICE, ["volcano"]) == []


async def test_words_are_stemmed(graph_store: GraphStore) -> None:
    sunrise = mem(ALICE, "Melanie painted a sunrise in May 2023.")
    runs = mem(ALICE, "Caroline runs every morning.", minutes=1)
    await write(graph_store, sunrise, runs)
    assert await search(graph_store, ALICE, ["painting"]) == [sunrise.id]
    assert await search(graph_store, ALICE, ["paints"]) == [sunrise.id]
    assert await search(graph_store, ALICE, ["run"]) == [runs.id]
    assert await search(graph_store, ALICE, ["SUNRISES"]) == [sunrise.id]


async def test_scopes_apply_as_in_get_memories(graph_store: GraphStore) -> None:
    mine = mem(ALICE, "Luna loves the garden.")
    vet = mem(VET, "The vet saw Luna in the garden.", minutes=1)
    run = mem(VET_RUN, "Luna's garden checkup went well.", minutes=2)
    bobs = mem(BOB, "Rex digs in the garden.", minutes=3)
    await write(graph_store, mine)
    await write(graph_store, vet)
    await write(graph_store, run)
    await write(graph_store, bobs)
    everyone = [mine.id, vet.id, run.id, bobs.id]
    for scope in (ALICE, VET, VET_RUN, ALICE_ONLY, BOB, Scope(agent_id="vet"), Scope(run_id="r1")):
        expected = set(await graph_store.get_memories(everyone, scope))
        assert set(await search(graph_store, scope, ["garden"])) == expected, scope
    assert set(await search(graph_store, ALICE, ["garden"])) == {mine.id, vet.id, run.id}
    assert await search(graph_store, ALICE_ONLY, ["garden"]) == [mine.id]
    assert await search(graph_store, BOB, ["garden", "Luna"]) == [bobs.id]
    assert bobs.id not in await search(graph_store, ALICE, ["Rex", "digs", "garden"])
    assert await search(graph_store, Scope(user_id="carol"), ["garden"]) == []


@pytest.mark.parametrize("user", ["zoë", 'o"brien', "a b", "ユーザー", "u616c696365"])
async def test_any_user_id_finds_its_own_memories_only(graph_store: GraphStore, user: str) -> None:
    # the embedded index narrows to the user's postings by a token made from the id
    theirs = mem(Scope(user_id=user), "Sapiens is on my nightstand.")
    other = mem(Scope(user_id=user + "x"), "Sapiens is on the shelf.")
    await write(graph_store, theirs)
    await write(graph_store, other)
    assert await search(graph_store, Scope(user_id=user), ["sapiens"]) == [theirs.id]


async def test_filters_time_range_and_validity_apply_as_in_get_memories(graph_store: GraphStore) -> None:
    pets = mem(ALICE, "Luna caught a cold in Boston.", topic="pets", minutes=0)
    work = mem(ALICE, "I flew to Boston for work.", topic="work", minutes=10)
    later = mem(ALICE, "Boston was rainy.", minutes=20)
    await write(graph_store, pets, work, later)
    moved = NOW + timedelta(minutes=30)
    seattle = mem(ALICE, "I moved from Boston to Seattle.", minutes=30)
    history = [HistoryEntry(seattle.id, EventKind.ADD, "", seattle.text, NOW)]
    episode = Episode(str(uuid.uuid4()), ALICE, (), {}, moved, moved)
    await graph_store.add_memories(
        episode, [seattle], history, retire=[Retirement(work.id, 1, moved, seattle.id, "single_valued:lives_in")]
    )
    everyone = [pets.id, work.id, later.id, seattle.id]
    topic = [MetadataFilter("topic", FilterOp.EQ, "pets")]
    window = TimeRange(NOW + timedelta(minutes=5), NOW + timedelta(minutes=25))
    cases: list[tuple[Sequence[MetadataFilter], TimeRange | None, Validity | None]] = [
        ((), None, None),
        (topic, None, None),
        ([MetadataFilter("topic", FilterOp.NE, "pets")], None, None),
        ([MetadataFilter("topic", FilterOp.IN, ["pets", "work"])], None, CURRENT),
        ((), window, None),
        ((), window, CURRENT),
        ((), None, CURRENT),
        ((), None, ANY_VALIDITY),
        ((), None, Validity(as_of=NOW + timedelta(minutes=15))),
        ((), None, Validity(as_of=NOW + timedelta(minutes=45))),
    ]
    for filters, time_range, validity in cases:
        expected = set(await graph_store.get_memories(everyone, ALICE, filters, time_range, validity))
        got = await search(graph_store, ALICE, ["Boston"], 50, filters, time_range, validity)
        assert set(got) == expected, (filters, time_range, validity)
    assert await search(graph_store, ALICE, ["Boston"], filters=topic) == [pets.id]
    assert set(await search(graph_store, ALICE, ["Boston"], time_range=window)) == {work.id, later.id}
    # the retired memory is history: not current, still found when retired ones are asked for
    assert set(await search(graph_store, ALICE, ["Boston"], validity=CURRENT)) == {pets.id, later.id, seattle.id}
    assert work.id in await search(graph_store, ALICE, ["flew"], validity=ANY_VALIDITY)
    assert await search(graph_store, ALICE, ["flew"], validity=CURRENT) == []
    # deleted: never, whatever the validity asked for
    await graph_store.delete_memories([later.id, work.id], at=NOW + timedelta(hours=1))
    for validity in (None, CURRENT, ANY_VALIDITY):
        assert set(await search(graph_store, ALICE, ["Boston", "rainy", "flew"], validity=validity)) <= {
            pets.id,
            seattle.id,
        }


async def test_a_replaced_memory_is_found_by_its_new_text_only(graph_store: GraphStore) -> None:
    old = mem(ALICE, "My favourite band is Radiohead.")
    other = mem(ALICE, "I saw a band play in Lisbon.", minutes=1)
    await write(graph_store, old, other)
    new = replace(old, text="My favourite band is Portishead.", content_hash="portishead", version=2)
    await graph_store.replace_memory(
        new, HistoryEntry(old.id, EventKind.UPDATE, old.text, new.text, NOW), expected_version=1
    )
    assert await search(graph_store, ALICE, ["Radiohead"]) == []
    assert await search(graph_store, ALICE, ["Portishead"]) == [old.id]
    assert set(await search(graph_store, ALICE, ["band"])) == {old.id, other.id}
    again = replace(new, text="My favourite band is Massive Attack.", content_hash="massive", version=3)
    await graph_store.replace_memory(
        again, HistoryEntry(old.id, EventKind.UPDATE, new.text, again.text, NOW), expected_version=2
    )
    assert await search(graph_store, ALICE, ["Portishead", "Radiohead"]) == []
    assert await search(graph_store, ALICE, ["massive"]) == [old.id]


async def test_erasure_removes_memories_from_the_index(graph_store: GraphStore) -> None:
    alices = [mem(ALICE, "Luna sleeps in Boston."), mem(VET, "Luna's Boston vet visit.", minutes=1)]
    bobs = mem(BOB, "Rex lives in Boston.")
    await write(graph_store, alices[0])
    await write(graph_store, alices[1])
    await write(graph_store, bobs)
    erasure = Erasure(str(uuid.uuid4()), ALICE, NOW, "admin")
    await graph_store.begin_erasure(erasure)
    await graph_store.erase_scope(erasure.id, ALICE)
    assert await search(graph_store, ALICE, ["Boston", "Luna"]) == []
    assert await search(graph_store, VET, ["Boston", "Luna"]) == []
    assert await search(graph_store, BOB, ["Boston"]) == [bobs.id]
    back = mem(ALICE, "Back in Boston again.", minutes=5)  # the scope can be written to again
    await write(graph_store, back)
    assert await search(graph_store, ALICE, ["Boston"]) == [back.id]


# Terms a caller may pass on from a user's question: none may error, widen or narrow the search.
PUNCTUATION = ['"', "'", "-", ":", "*", "(", ")", "|", "@", "\\", "%", "$", "~", "^", "{", "}", "[", "]", "+", "!"]


@pytest.mark.parametrize("mark", PUNCTUATION)
async def test_punctuation_in_terms_neither_errors_nor_injects(graph_store: GraphStore, mark: str) -> None:
    boston = mem(ALICE, "I grew up in Boston.")
    luna = mem(ALICE, "Luna is a Siamese cat.", minutes=1)
    await write(graph_store, boston, luna)
    assert await search(graph_store, ALICE, [mark]) == []
    assert await search(graph_store, ALICE, [mark * 3, f"{mark} {mark}"]) == []
    for term in (f"Boston{mark}", f"{mark}Boston", f"{mark}Boston{mark}", f"{mark} Boston"):
        assert await search(graph_store, ALICE, [term]) == [boston.id], term
    # two words glued by the mark: never read as "either word" or "everything"
    assert await search(graph_store, ALICE, [f"zzyzx{mark}Boston"]) == []
    assert await search(graph_store, ALICE, [f"zzyzx {mark} Boston"]) == []


async def test_words_with_punctuation_inside_find_their_memory(graph_store: GraphStore) -> None:
    obrien = mem(ALICE, "Dinner at O’Brien’s pub on 2023-05-01.")
    code = mem(ALICE, "The config key is max_retries.", minutes=1)
    mail = mem(ALICE, "Send the e-mail to Zoë.", minutes=2)
    await write(graph_store, obrien, code, mail)
    assert await search(graph_store, ALICE, ["O’Brien’s"]) == [obrien.id]
    assert await search(graph_store, ALICE, ["2023-05-01"]) == [obrien.id]
    assert await search(graph_store, ALICE, ["max_retries"]) == [code.id]
    assert await search(graph_store, ALICE, ["e-mail"]) == [mail.id]
    assert await search(graph_store, ALICE, ["Zoë"]) == [mail.id]


@pytest.mark.parametrize(
    "term",
    [
        'zzyzx" OR "Boston',
        "zzyzx' OR 'Boston",
        'x" OR "y',
        "zzyzx OR Boston",
        "zzyzx || Boston",
        "zzyzx|Boston",
        "*",
        "* OR *",
        "text:*",
        "@text:Boston zzyzx",
        "%Boston%1 zzyzx",
        "NEAR(zzyzx Boston)",
        "zzyzx\\",
        "zzyzx\x00Boston",
        "$q zzyzx",
        "zzyzx) OR (Boston",
        "zzyzx -Boston",
    ],
)
async def test_query_syntax_in_a_term_is_just_text(graph_store: GraphStore, term: str) -> None:
    await write(graph_store, mem(ALICE, "I grew up in Boston."), mem(ALICE, "Luna is a Siamese cat.", minutes=1))
    assert await search(graph_store, ALICE, [term]) == []


async def test_empty_terms_and_the_limit(graph_store: GraphStore) -> None:
    memories = [mem(ALICE, f"Concert number {i}: " + "jazz " * (i + 1), minutes=i) for i in range(6)]
    await write(graph_store, *memories)
    assert await graph_store.lexical_search(ALICE, [], 10) == []
    assert await graph_store.lexical_search(ALICE, ["", "  ", "\t"], 10) == []
    assert await graph_store.lexical_search(ALICE, ["jazz"], 0) == []
    everything = await search(graph_store, ALICE, ["jazz", "concert"], 10)
    assert set(everything) == {m.id for m in memories}
    assert await search(graph_store, ALICE, ["jazz", "concert"], 2) == everything[:2]
    assert len(await search(graph_store, ALICE, ["jazz"], 1)) == 1
    # a term given twice counts once: the same answer as once
    assert await search(graph_store, ALICE, ["jazz", "JAZZ", "jazz"], 10) == await search(
        graph_store, ALICE, ["jazz"], 10
    )


# -- existing data: FalkorDB graphs and embedded databases written before the index ------------------


async def test_falkordb_graph_from_before_the_index_is_labelled_and_indexed_on_open(
    falkordb_server: FalkorDBServer,
) -> None:
    """A graph written before the lexical index: its memories lack the MemoryText label and there
    is no full-text index (made by taking both away from a graph written now)."""
    from falkordb.asyncio import FalkorDB

    from recalld.graph.falkordb import FalkorDBGraphStore

    name = f"lexical-{uuid.uuid4().hex}"
    store = FalkorDBGraphStore(url=falkordb_server.url, graph=name)
    await store.open()
    sapiens, boston = mem(ALICE, "I read Sapiens."), mem(ALICE, "Concert in Boston.", minutes=1)
    db = FalkorDB(host="127.0.0.1", port=falkordb_server.port)
    graph = db.select_graph(name)
    try:
        await write(store, sapiens, boston)
        await store.close()
        await graph.query("CALL db.idx.fulltext.drop('MemoryText')")
        await graph.query("MATCH (m:MemoryText) REMOVE m:MemoryText")
        assert (await graph.query("MATCH (m:MemoryText) RETURN count(m)")).result_set == [[0]]
        for _ in range(2):  # labelled and indexed once; reopening changes nothing
            store = FalkorDBGraphStore(url=falkordb_server.url, graph=name)
            await store.open()
            try:
                assert await search(store, ALICE, ["Sapiens"]) == [sapiens.id]
                assert set(await search(store, ALICE, ["boston", "sapiens"])) == {sapiens.id, boston.id}
            finally:
                await store.close()
    finally:
        await graph.delete()
        await db.connection.aclose()


async def test_falkordb_index_without_user_key_is_made_again_on_open(falkordb_server: FalkorDBServer) -> None:
    """This session's first full-text index held only the text: a user's search read every user's
    matches. Opening such a graph makes the index again with ``user_key``."""
    from falkordb.asyncio import FalkorDB

    from recalld.graph.falkordb import FalkorDBGraphStore

    name = f"lexical-{uuid.uuid4().hex}"
    store = FalkorDBGraphStore(url=falkordb_server.url, graph=name)
    await store.open()
    mine, bobs = mem(ALICE, "I read Sapiens."), mem(BOB, "Bob read Sapiens too.")
    db = FalkorDB(host="127.0.0.1", port=falkordb_server.port)
    graph = db.select_graph(name)
    try:
        await write(store, mine)
        await write(store, bobs)
        await store.close()
        await graph.query("CALL db.idx.fulltext.drop('MemoryText')")
        await graph.query("CALL db.idx.fulltext.createNodeIndex({label: 'MemoryText', language: 'english'}, 'text')")
        store = FalkorDBGraphStore(url=falkordb_server.url, graph=name)
        await store.open()
        try:
            types = {r[0]: r[1] for r in (await graph.query("CALL db.indexes() YIELD label, types")).result_set}
            assert "FULLTEXT" in types["MemoryText"]["user_key"]
            for _ in range(50):  # FalkorDB builds the index in the background
                if await search(store, ALICE, ["Sapiens"]):
                    break
                await asyncio.sleep(0.1)
            assert await search(store, ALICE, ["Sapiens"]) == [mine.id]
            assert await search(store, BOB, ["Sapiens"]) == [bobs.id]
        finally:
            await store.close()
    finally:
        await graph.delete()
        await db.connection.aclose()


# -- the embedded store: the index is the table, and old databases get one -------------------------


async def _embedded(tmp_path: Path) -> GraphStore:
    from recalld.graph.embedded import EmbeddedGraphStore

    store = EmbeddedGraphStore(path=tmp_path / "graph.db")
    await store.open()
    return store


def _fts_matches_table(path: Path) -> None:
    """FTS5's own check that the index holds exactly the rows of its content table."""
    db = sqlite3.connect(path)
    try:
        db.execute("INSERT INTO memories_fts(memories_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        db.close()


async def test_embedded_index_stays_in_step_with_every_write(tmp_path: Path) -> None:
    store = await _embedded(tmp_path)
    try:
        a, b = mem(ALICE, "Alpha Boston."), mem(ALICE, "Beta Boston.", minutes=1)
        await write(store, a, b)
        new = replace(a, text="Alpha Lisbon.", version=2)
        await store.replace_memory(new, HistoryEntry(a.id, EventKind.UPDATE, a.text, new.text, NOW), expected_version=1)
        c = mem(ALICE, "Gamma Boston.", minutes=2)
        episode = Episode(str(uuid.uuid4()), ALICE, (), {}, NOW, NOW)
        await store.add_memories(
            episode,
            [c],
            [HistoryEntry(c.id, EventKind.ADD, "", c.text, NOW)],
            retire=[Retirement(b.id, 1, NOW + timedelta(minutes=2), c.id, "test")],
        )
        await store.delete_memories([c.id], at=NOW)
        await store.mark_indexed({a.id: 2})
        await store.touch_memories([a.id], ALICE, NOW)
        await write(store, mem(BOB, "Bob in Boston."))
        erasure = Erasure(str(uuid.uuid4()), BOB, NOW, "admin")
        await store.begin_erasure(erasure)
        await store.erase_scope(erasure.id, BOB)
        _fts_matches_table(tmp_path / "graph.db")
        assert set(await search(store, ALICE, ["Boston", "Lisbon"], validity=ANY_VALIDITY)) == {a.id, b.id}
        assert await search(store, ALICE, ["Boston", "Lisbon"], validity=CURRENT) == [a.id]
    finally:
        await store.close()


async def test_embedded_database_from_before_the_index_is_backfilled_on_open(tmp_path: Path) -> None:
    """A schema-4 database (what recalld wrote before the lexical index existed): made by writing
    with the store, then taking the schema back to version 4 (no FTS table, no triggers) and
    changing a memory's text the way the old code did, with no trigger to see it."""
    path = tmp_path / "graph.db"
    store = await _embedded(tmp_path)
    sapiens, boston = mem(ALICE, "I read Sapiens."), mem(ALICE, "Concert in Boston.", minutes=1)
    bobs = mem(BOB, "Bob read Sapiens too.")
    try:
        await write(store, sapiens, boston)
        await write(store, bobs)
    finally:
        await store.close()
    db = sqlite3.connect(path, isolation_level=None)
    for trigger in ("memories_fts_insert", "memories_fts_delete", "memories_fts_update"):
        db.execute(f"DROP TRIGGER {trigger}")
    db.execute("DROP TABLE memories_fts")
    db.execute("ALTER TABLE memories DROP COLUMN speaker")  # schema 6
    db.execute("PRAGMA user_version=4")
    db.execute("UPDATE memories SET text='Concert in Lisbon.' WHERE id=?", (boston.id,))
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'memories_fts%'").fetchone()[0] == 0
    db.close()

    for _ in range(2):  # the migration runs once; reopening changes nothing
        store = await _embedded(tmp_path)
        try:
            assert await search(store, ALICE, ["Sapiens"]) == [sapiens.id]
            assert await search(store, ALICE, ["Lisbon"]) == [boston.id]
            assert await search(store, ALICE, ["Boston"]) == []
            assert await search(store, BOB, ["sapiens"]) == [bobs.id]
            later = mem(ALICE, "Sapiens again, in Lisbon.", minutes=5)  # the triggers work from now on
            await write(store, later)
            assert set(await search(store, ALICE, ["Sapiens"])) == {sapiens.id, later.id}
            await store.delete_memories([later.id], at=NOW)
        finally:
            await store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 6
    db.close()
    _fts_matches_table(path)


async def test_embedded_erasure_leaves_no_trace_in_the_file(tmp_path: Path) -> None:
    """The full-text index keeps deleted postings in its segments until they are merged, and
    SQLite keeps freed pages' bytes: an erasure must leave neither the user's words nor their id
    anywhere in the database file or its write-ahead log, while the other users' stay findable."""
    store = await _embedded(tmp_path)
    try:
        await write(store, mem(ALICE, "Zorblax sleeps in Quintorville."), mem(ALICE, "Zorblax ate.", minutes=1))
        bobs = mem(BOB, "Rex lives in Boston.")
        await write(store, bobs)
        erasure = Erasure(str(uuid.uuid4()), ALICE, NOW, "admin")
        await store.begin_erasure(erasure)
        await store.erase_scope(erasure.id, ALICE)
        await store.finish_erasure(erasure.id, 2, NOW, Scope(user_id="erased-1"))
        assert await search(store, BOB, ["Boston"]) == [bobs.id]
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("graph.db*"))  # while the server runs
    finally:
        await store.close()
    for trace in (b"zorblax", b"Zorblax", b"quintorvil", ALICE.user_id.encode(), ALICE.user_id.encode().hex().encode()):
        assert trace not in raw, trace
    assert b"Boston" in raw
