"""The memory pipeline and hybrid retriever on the real embedded stores."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from recalld.core.indexing import Indexer
from recalld.core.memory import MemoryPipeline
from recalld.kernel.domain import (
    ChatMessage,
    Episode,
    EventKind,
    FilterOp,
    Memory,
    MetadataFilter,
    Retriever,
    Scope,
    SearchMode,
    TimeRange,
)
from recalld.kernel.errors import Conflict, InvalidArgument, NotFound, ResourceExhausted
from recalld.kernel.ports import VectorRecord, VectorStore
from recalld.kernel.requests import AddCommand, SearchQuery
from recalld.server.app import App

SEED = [
    "My cat Luna caught a cold last week.",
    "Luna is a Siamese.",
    "I'm allergic to penicillin.",
    "I study linear algebra and have a test next week.",
]


async def remember(app: App, scope: Scope, *texts: str, **kw: object) -> list[str]:
    _, events = await app.memories.add(AddCommand(scope, [ChatMessage("user", t) for t in texts], **kw))  # type: ignore[arg-type]
    return [e.memory.id for e in events if e.event is EventKind.ADD]


async def test_multi_hop_pet_health_found_through_the_graph(app: App, alice: Scope) -> None:
    await remember(app, alice, *SEED)
    hits = await app.retriever.search(SearchQuery(alice, "how is my pet's health?", mode=SearchMode.GRAPH))
    assert hits, "graph retrieval found nothing"
    top = hits[0]
    assert top.memory.text == "My cat Luna caught a cold last week."
    assert top.retrievers == (Retriever.GRAPH,)
    rendered = [p.render() for p in top.paths]
    assert "alice -has_pet-> Luna -catch-> cold" in rendered

    hybrid = await app.retriever.search(SearchQuery(alice, "how is my pet's health?"))
    assert hybrid[0].memory.text == "My cat Luna caught a cold last week."
    assert set(hybrid[0].retrievers) == {Retriever.VECTOR, Retriever.GRAPH}


async def test_vector_mode_reports_cosine_and_no_paths(app: App, alice: Scope) -> None:
    await remember(app, alice, *SEED)
    hits = await app.retriever.search(SearchQuery(alice, "penicillin allergy", mode=SearchMode.VECTOR, limit=2))
    assert hits[0].memory.text == "I'm allergic to penicillin."
    assert hits[0].retrievers == (Retriever.VECTOR,)
    assert hits[0].paths == ()
    assert hits[0].vector_score is not None and 0.5 < hits[0].vector_score <= 1.0
    assert hits[0].score == pytest.approx(hits[0].vector_score)
    assert len(hits) == 2


async def test_threshold_drops_weak_hits(app: App, alice: Scope) -> None:
    await remember(app, alice, *SEED)
    hits = await app.retriever.search(SearchQuery(alice, "penicillin allergy", mode=SearchMode.VECTOR, threshold=0.5))
    assert [h.memory.text for h in hits] == ["I'm allergic to penicillin."]


async def test_metadata_travels_from_add_to_search_and_get(app: App, alice: Scope) -> None:
    meta = {"source": "chat", "session": 3, "tags": ["health"]}
    ref = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    (mid,) = await remember(app, alice, "I'm allergic to penicillin.", metadata=meta, reference_time=ref)
    got = await app.memories.get(alice, mid)
    assert dict(got.metadata) == meta
    assert got.reference_time == ref
    hits = await app.retriever.search(SearchQuery(alice, "allergy"))
    assert dict(hits[0].memory.metadata) == meta


async def test_negation_is_never_stored_as_positive(app: App, alice: Scope) -> None:
    (mid,) = await remember(app, alice, "I'm not allergic to penicillin.")
    mem = await app.memories.get(alice, mid)
    predicates = {t.predicate for t in mem.triples}
    assert "not_allergic_to" in predicates
    assert "allergic_to" not in predicates
    sub = await app.explorer.subgraph(alice, "alice")
    assert {e.predicate for e in sub.edges} == {"not_allergic_to"}


async def test_infer_false_stores_messages_verbatim(app: App, alice: Scope) -> None:
    _, events = await app.memories.add(
        AddCommand(
            alice, [ChatMessage("user", "what should I eat?"), ChatMessage("assistant", "Try oatmeal.")], infer=False
        )
    )
    assert [e.memory.text for e in events] == ["what should I eat?", "Try oatmeal."]
    assert all(e.memory.triples == () for e in events)


async def test_exact_duplicate_is_a_noop(app: App, alice: Scope) -> None:
    (first,) = await remember(app, alice, "I'm allergic to penicillin.")
    _, events = await app.memories.add(AddCommand(alice, [ChatMessage("user", "i'm  allergic to penicillin.")]))
    assert [(e.event, e.memory.id) for e in events] == [(EventKind.NOOP, first)]
    page, _ = await app.memories.list_memories(alice)
    assert len(page) == 1


async def test_metadata_filters_apply_to_vector_and_graph_hits(app: App, alice: Scope) -> None:
    await remember(app, alice, "My cat Luna caught a cold last week.", metadata={"topic": "pets", "prio": 1})
    await remember(app, alice, "I'm allergic to penicillin.", metadata={"topic": "health", "prio": 5})
    for mode in SearchMode:
        eq = await app.retriever.search(
            SearchQuery(
                alice, "my cat and my allergy", mode=mode, filters=[MetadataFilter("topic", FilterOp.EQ, "health")]
            )
        )
        assert [h.memory.text for h in eq] == ["I'm allergic to penicillin."], mode
        gt = await app.retriever.search(
            SearchQuery(alice, "my cat and my allergy", mode=mode, filters=[MetadataFilter("prio", FilterOp.LT, 3)])
        )
        assert [h.memory.text for h in gt] == ["My cat Luna caught a cold last week."], mode
        ne = await app.retriever.search(
            SearchQuery(
                alice, "my cat and my allergy", mode=mode, filters=[MetadataFilter("topic", FilterOp.NE, "pets")]
            )
        )
        assert [h.memory.text for h in ne] == ["I'm allergic to penicillin."], mode
        isin = await app.retriever.search(
            SearchQuery(
                alice, "my cat and my allergy", mode=mode, filters=[MetadataFilter("topic", FilterOp.IN, ["x", "pets"])]
            )
        )
        assert [h.memory.text for h in isin] == ["My cat Luna caught a cold last week."], mode


async def test_time_range_filters_on_reference_time(app: App, alice: Scope) -> None:
    old = datetime(2023, 1, 1, tzinfo=UTC)
    new = datetime(2024, 6, 1, tzinfo=UTC)
    await remember(app, alice, "I'm allergic to penicillin.", reference_time=old)
    await remember(app, alice, "I'm allergic to peanuts.", reference_time=new)
    window = TimeRange(start=new - timedelta(days=1), end=new + timedelta(days=1))
    for mode in SearchMode:
        hits = await app.retriever.search(SearchQuery(alice, "what am I allergic to?", mode=mode, time_range=window))
        assert [h.memory.text for h in hits] == ["I'm allergic to peanuts."], mode


async def test_update_replaces_text_triples_and_vector_and_keeps_history(app: App, alice: Scope) -> None:
    (mid,) = await remember(app, alice, "I live in Berlin.")
    updated = await app.memories.update(alice, mid, "I live in Lisbon.")
    assert updated.text == "I live in Lisbon."
    assert any(t.object == "Lisbon" for t in updated.triples)
    hits = await app.retriever.search(SearchQuery(alice, "Lisbon", mode=SearchMode.VECTOR, limit=1))
    assert hits[0].memory.text == "I live in Lisbon."
    sub = await app.explorer.subgraph(alice, "alice")
    assert {e.object for e in sub.edges} == {"Lisbon"}
    history = await app.memories.history(alice, mid)
    assert [(h.event, h.old_text, h.new_text) for h in history] == [
        (EventKind.ADD, "", "I live in Berlin."),
        (EventKind.UPDATE, "I live in Berlin.", "I live in Lisbon."),
    ]
    assert (await app.indexer.verify()).consistent


async def test_delete_removes_from_every_read_path_and_keeps_history(app: App, alice: Scope) -> None:
    ids = await remember(app, alice, *SEED)
    await app.memories.delete(alice, ids[2])
    with pytest.raises(NotFound):
        await app.memories.get(alice, ids[2])
    for mode in SearchMode:
        hits = await app.retriever.search(SearchQuery(alice, "penicillin", mode=mode))
        assert ids[2] not in {h.memory.id for h in hits}
    assert [h.event for h in await app.memories.history(alice, ids[2])] == [EventKind.ADD, EventKind.DELETE]
    with pytest.raises(NotFound):
        await app.memories.delete(alice, ids[2])
    report = await app.indexer.verify()
    assert report.consistent and report.memories == 3 and report.vectors == 3


async def test_delete_all_clears_only_the_scope(app: App) -> None:
    alice, bob = Scope(user_id="alice"), Scope(user_id="bob")
    await remember(app, alice, *SEED)
    await remember(app, bob, "I'm allergic to penicillin.")
    assert await app.memories.delete_all(alice) == 4
    assert (await app.memories.list_memories(alice))[0] == []
    assert len((await app.memories.list_memories(bob))[0]) == 1
    assert (await app.indexer.verify()).consistent


async def test_list_paginates_newest_first_without_gaps(app: App, alice: Scope) -> None:
    for i in range(5):
        await remember(app, alice, *[f"I planted tree number {i * 5 + j} in the garden." for j in range(5)])
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page, token = await app.memories.list_memories(alice, page_size=10, page_token=token)
        seen += [m.id for m in page]
        pages += 1
        if not token:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 25
    with pytest.raises(InvalidArgument, match="page_token"):
        await app.memories.list_memories(alice, page_token="not-a-token")


async def test_agents_share_a_users_memory_but_keep_their_own(app: App) -> None:
    await remember(app, Scope(user_id="alice", agent_id="tutor"), "I study linear algebra.")
    await remember(app, Scope(user_id="alice", agent_id="nurse"), "I'm allergic to penicillin.")
    everything = await app.retriever.search(SearchQuery(Scope(user_id="alice"), "what do you know about me?"))
    assert len(everything) == 2
    tutor = await app.retriever.search(
        SearchQuery(Scope(user_id="alice", agent_id="tutor"), "what do you know about me?")
    )
    assert [h.memory.text for h in tutor] == ["I study linear algebra."]


async def test_bad_input_is_rejected_before_anything_is_written(app: App, alice: Scope) -> None:
    cases = [
        (Scope(), [ChatMessage("user", "I'm allergic to penicillin.")], {}, InvalidArgument),
        (alice, [], {}, InvalidArgument),
        (alice, [ChatMessage("user", "   ")], {}, InvalidArgument),
        (alice, [ChatMessage("robot", "hello there friend")], {}, InvalidArgument),
        (alice, [ChatMessage("user", "x" * 20_000)], {}, ResourceExhausted),
        (alice, [ChatMessage("user", "hi")] * 101, {}, ResourceExhausted),
        (alice, [ChatMessage("user", "I like tea.")], {"blob": "y" * 20_000}, ResourceExhausted),
    ]
    for scope, msgs, meta, exc in cases:
        with pytest.raises(exc):
            await app.memories.add(AddCommand(scope, msgs, metadata=meta))
    assert await app.graph.count_memories() == 0
    with pytest.raises(InvalidArgument, match="memory_id"):
        await app.memories.get(alice, "../../etc")
    with pytest.raises(NotFound):
        await app.memories.get(alice, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(InvalidArgument, match="filter key"):
        await app.retriever.search(
            SearchQuery(alice, "x", filters=[MetadataFilter('a"] or 1==1 or ["', FilterOp.EQ, 1)])
        )
    with pytest.raises(InvalidArgument, match="limit"):
        await app.retriever.search(SearchQuery(alice, "x", limit=1000))


async def test_committed_but_unindexed_memories_are_reconciled(app: App, alice: Scope) -> None:
    """A crash between the graph commit and the vector upsert loses nothing:
    the memory is committed as not indexed and the reconciler finishes the job."""
    now = datetime.now(UTC)
    mem = Memory(
        id=str(uuid.uuid4()),
        text="Luna is a Siamese.",
        scope=alice,
        metadata={},
        created_at=now,
        updated_at=now,
        reference_time=now,
        content_hash="h",
    )
    episode = Episode(id=str(uuid.uuid4()), scope=alice, messages=(), metadata={}, reference_time=now, created_at=now)
    await app.graph.add_memories(episode, [mem], [])  # committed; the process "dies" before the upsert
    assert (await app.indexer.verify()).missing_vectors == (mem.id,)
    assert await app.indexer.reconcile() == (1, 0)
    assert await app.indexer.reconcile() == (0, 0)
    hits = await app.retriever.search(SearchQuery(alice, "Siamese", mode=SearchMode.VECTOR, limit=1))
    assert hits[0].memory.id == mem.id


async def test_verify_reports_drift_and_reindex_repairs_it(app: App, alice: Scope) -> None:
    ids = await remember(app, alice, *SEED)
    orphan = str(uuid.uuid4())
    await app.vector.delete(ids[:2])
    await app.vector.upsert([VectorRecord(orphan, [0.1] * 384, alice, datetime.now(UTC), {})])
    report = await app.indexer.verify()
    assert not report.consistent
    assert set(report.missing_vectors) == set(ids[:2])
    assert report.orphan_vectors == (orphan,)
    assert await app.indexer.reindex() == (2, 1)
    report = await app.indexer.verify()
    assert report.consistent and report.memories == report.vectors == 4


class GatedVectorStore:
    """The real vector store, with upserts held at a gate: lets a test order a slow Update's
    vector write after a Delete's, as a loaded server (or another replica) may."""

    def __init__(self, inner: VectorStore) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def upsert(self, records: Sequence[VectorRecord]) -> None:
        self.waiting.set()
        await self.gate.wait()
        await self.inner.upsert(records)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def pipeline_over(app: App, vector: VectorStore) -> MemoryPipeline:
    indexer = Indexer(graph=app.graph, vector=vector, embedder=app.embedder)
    return MemoryPipeline(
        graph=app.graph,
        vector=vector,
        embedder=app.embedder,
        extractor=app.extractor,
        indexer=indexer,
        limits=app.settings.limits,
        reconcile=app.settings.truth,
    )


async def test_an_update_whose_vector_lands_after_the_delete_leaves_no_orphan(app: App, alice: Scope) -> None:
    (mid,) = await remember(app, alice, "My cat Luna caught a cold.")
    gated = GatedVectorStore(app.vector)
    slow = pipeline_over(app, gated)
    update = asyncio.create_task(slow.update(alice, mid, "Luna is healthy again."))
    await gated.waiting.wait()  # the update is committed; its vector write is held
    await app.memories.delete(alice, mid)  # the delete commits and drops the vector first
    gated.gate.set()  # now the update's (stale) upsert reaches Milvus
    await update  # acknowledged before the delete: the update succeeded
    report = await app.indexer.verify()
    assert report.consistent, report
    assert mid not in await app.vector.all_ids()
    assert (await app.indexer.reconcile()) == (0, 0)  # nothing was left for the reconciler
    history = await app.memories.history(alice, mid)
    assert [h.event for h in history] == [EventKind.ADD, EventKind.UPDATE, EventKind.DELETE]


async def test_updates_racing_a_delete_end_as_not_found_or_before_it(app: App, alice: Scope) -> None:
    (mid,) = await remember(app, alice, "My cat Luna caught a cold.")
    results = await asyncio.gather(
        app.memories.update(alice, mid, "Luna is healthy again."),
        app.memories.update(alice, mid, "Luna has a fever."),
        app.memories.delete(alice, mid),
        return_exceptions=True,
    )
    assert results[2] is None  # the delete succeeds whatever the updates did
    assert all(not isinstance(r, BaseException) or isinstance(r, NotFound | Conflict) for r in results[:2]), results
    history = [h.event for h in await app.memories.history(alice, mid)]
    assert history[-1] is EventKind.DELETE and history.count(EventKind.DELETE) == 1, history
    assert (await app.indexer.verify()).consistent


async def test_expected_version_guards_update_and_delete(app: App, alice: Scope) -> None:
    (mid,) = await remember(app, alice, "My cat Luna caught a cold.")
    first = await app.memories.get(alice, mid)
    updated = await app.memories.update(alice, mid, "Luna is healthy again.", expected_version=first.version)
    assert updated.version == first.version + 1
    with pytest.raises(Conflict, match="version"):
        await app.memories.update(alice, mid, "Luna has a fever.", expected_version=first.version)
    with pytest.raises(Conflict):
        await app.memories.delete(alice, mid, expected_version=first.version)
    assert (await app.memories.get(alice, mid)).text == "Luna is healthy again."
    await app.memories.delete(alice, mid, expected_version=updated.version)
    with pytest.raises(NotFound):
        await app.memories.update(alice, mid, "Luna is back.", expected_version=updated.version)


async def test_the_sweep_removes_a_vector_a_crash_left_behind(app: App, alice: Scope) -> None:
    """Killed between a stale vector write and its refused mark: the tombstone is marked
    indexed, the vector is back. Pending work cannot see it; the sweep does."""
    ids = await remember(app, alice, *SEED)
    await app.memories.delete(alice, ids[0])
    await app.vector.upsert([VectorRecord(ids[0], [0.1] * 384, alice, datetime.now(UTC), {})])
    assert await app.indexer.reconcile() == (0, 0)
    assert (await app.indexer.verify()).orphan_vectors == (ids[0],)
    assert await app.indexer.sweep() == (0, 1)
    report = await app.indexer.verify()
    assert report.consistent and report.memories == report.vectors == 3
