"""Hybrid Search fuses full-text matches: the rare exact word the embedding misses (a title, a
band, a number) brings its memory up, and the hit says the lexical retriever found it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from recalld.core.retrieval import HybridRetriever
from recalld.core.settings import FusionMethod
from recalld.kernel.domain import ChatMessage, Retriever, Scope, SearchMode
from recalld.kernel.requests import AddCommand, SearchQuery
from recalld.server.app import App
from tests.conftest import make_settings

T0 = datetime(2025, 3, 1, tzinfo=UTC)
READING = [
    "I love reading novels before bed.",
    "My book club meets every Thursday.",
    "I borrowed three books from the library.",
    "Reading history books relaxes me.",
    "I bought a new bookshelf for my reading corner.",
    "My favourite author writes long fantasy series.",
    "I read a mystery novel on the train.",
    "I gave my sister a book for her birthday.",
    "The library was closed for renovation.",
    "I am trying to read more nonfiction this year.",
]
RARE = "Last month I finished Sapiens by Harari."


def retriever(app: App, **search: object) -> HybridRetriever:
    settings = make_settings(app.settings.data_dir)
    return HybridRetriever(
        graph=app.graph,
        vector=app.vector,
        embedder=app.embedder,
        extractor=app.extractor,
        # the features under test on, whatever the shipped defaults are
        settings=replace(settings.search, **{"lexical": True, **search}),  # type: ignore[arg-type]
        limits=settings.limits,
        decay=settings.decay,
    )


async def test_a_rare_word_is_found_by_the_lexical_retriever_and_fused(app: App) -> None:
    scope = Scope("reader")
    for i, text in enumerate([*READING, RARE]):
        await app.memories.add(AddCommand(scope, [ChatMessage("user", text)], reference_time=T0 + timedelta(days=i)))
    query = "Which book did I finish, Sapiens?"

    hits = await retriever(app).search(SearchQuery(scope, query, limit=5))
    top = hits[0]
    assert "Sapiens" in top.memory.text
    assert Retriever.LEXICAL in top.retrievers

    # vector mode and graph mode never run it
    for mode in (SearchMode.VECTOR, SearchMode.GRAPH):
        assert all(
            Retriever.LEXICAL not in h.retrievers
            for h in await retriever(app).search(SearchQuery(scope, query, mode=mode))
        )

    # switched off, nothing says lexical; rank fusion takes the full-text list as a third list
    off = await retriever(app, lexical=False).search(SearchQuery(scope, query, limit=10))
    assert all(Retriever.LEXICAL not in h.retrievers for h in off)
    rrf = await retriever(app, fusion=FusionMethod.RRF).search(SearchQuery(scope, query, limit=5))
    sapiens = [h for h in rrf if "Sapiens" in h.memory.text]
    assert sapiens and Retriever.LEXICAL in sapiens[0].retrievers


async def test_lexical_only_candidates_respect_filters_and_scope(app: App) -> None:
    alice, bob = Scope("alice-lex"), Scope("bob-lex")
    await app.memories.add(
        AddCommand(alice, [ChatMessage("user", "I saw Radiohead live in Oslo.")], metadata={"kind": "gig"})
    )
    await app.memories.add(
        AddCommand(bob, [ChatMessage("user", "I saw Radiohead live in Bergen.")], metadata={"kind": "gig"})
    )
    for text in READING[:5]:
        await app.memories.add(AddCommand(alice, [ChatMessage("user", text)], metadata={"kind": "note"}))

    hits = await retriever(app).search(SearchQuery(alice, "Radiohead", limit=10))
    assert [h.memory.text for h in hits if "Radiohead" in h.memory.text] == ["I saw Radiohead live in Oslo."]
    assert all(h.memory.scope.user_id == "alice-lex" for h in hits)
