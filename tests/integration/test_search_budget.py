"""A Search reads only the graph candidates that can rank, yet loses nothing to filters: a walk
from the user's own node reaches every first-person fact, and the candidates past the first
cut are read only when filters removed some of those before them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recalld.kernel.domain import ChatMessage, FilterOp, MetadataFilter, Scope, SearchMode
from recalld.kernel.requests import AddCommand, SearchQuery
from recalld.server.app import App

T0 = datetime(2025, 1, 1, tzinfo=UTC)
_FIRST = ("Ka", "Lo", "Mi", "Ra", "Ven", "Tor", "Bel", "An", "Is")
_SECOND = ("mar", "do", "sun", "pe", "ju", "ost", "eli", "tor", "ven")
NAMES = [a + b for a in _FIRST for b in _SECOND]


async def test_filtered_graph_search_reads_past_the_cut_and_ranks_ties_by_recency(app: App) -> None:
    scope = Scope("budget-user")
    for i, name in enumerate(NAMES[:80]):
        await app.memories.add(
            AddCommand(
                scope,
                [ChatMessage("user", f"I met {name} at the museum.")],
                metadata={"tagged": i >= 70},
                reference_time=T0 + timedelta(days=i),
            )
        )
    tagged = [MetadataFilter("tagged", FilterOp.EQ, True)]
    hits = await app.retriever.search(
        SearchQuery(scope, "who did I meet at the museum?", limit=5, mode=SearchMode.GRAPH, filters=tagged)
    )
    # 80 equal walks from the user's node, 10 of them tagged: the first cut (25 candidates) holds
    # only a few tagged ones, so five hits mean the search read on past it
    assert len(hits) == 5
    assert all(h.memory.metadata["tagged"] is True for h in hits)
    # equal graph scores: the most recent first, as before the cut existed
    times = [h.memory.reference_time for h in hits]
    assert times == sorted(times, reverse=True)
    assert times[0] == T0 + timedelta(days=79)

    everything = await app.retriever.search(SearchQuery(scope, "who did I meet at the museum?", limit=30))
    assert len(everything) == 30  # hybrid: vector hits and graph candidates together fill the page


async def test_the_sweep_repairs_vectors_without_scanning_the_graph_for_drift(app: App, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Graph drift is Verify's report, not the sweep's work: finding it scans every relation,
    which at 300k memories outlasted the start-up sweep (bench/million.py)."""
    scope = Scope("sweeper")
    await app.memories.add(AddCommand(scope, [ChatMessage("user", "I keep bees in the garden.")]))
    (memory,) = (await app.memories.list_memories(scope))[0]
    await app.vector.delete([memory.id])  # a vector lost: the sweep must put it back

    async def no_drift(*_: object, **__: object) -> None:
        raise AssertionError("the sweep asked for graph drift")

    monkeypatch.setattr(app.graph, "graph_drift", no_drift)
    assert await app.indexer.sweep() == (1, 0)
    assert memory.id in await app.vector.all_ids()
