"""Graph ranking by personalized PageRank, end to end: the walks of a Search become a subgraph,
activation spreads from what the query names, and memories two relations away are reached."""

from __future__ import annotations

from recalld.core.settings import GraphRanking
from recalld.kernel.domain import ChatMessage, Retriever, Scope, SearchMode
from recalld.kernel.requests import AddCommand, SearchQuery
from recalld.server.app import App
from tests.integration.test_lexical_search import retriever

FACTS = [
    "My daughter Emma is allergic to penicillin.",
    "Amoxicillin is a penicillin.",
    "Emma takes amoxicillin for her ear infection.",
    "I like jazz.",
    "I play tennis on Sundays.",
    "My car is a blue Volvo.",
]


async def test_ppr_ranks_the_memories_the_named_entities_connect(app: App) -> None:
    scope = Scope("parent")
    for text in FACTS:
        await app.memories.add(AddCommand(scope, [ChatMessage("user", text)]))
    query = "Which of Emma's medicines contains penicillin?"
    ppr = retriever(app, graph_ranking=GraphRanking.PPR)
    hits = await ppr.search(SearchQuery(scope, query, mode=SearchMode.GRAPH, limit=6))
    texts = [h.memory.text for h in hits]
    # everything about Emma and penicillin before the user's unrelated facts
    related = {FACTS[0], FACTS[1], FACTS[2]}
    assert set(texts[:3]) == related, texts
    assert all(Retriever.GRAPH in h.retrievers for h in hits)
    assert all(h.paths for h in hits if h.memory.text in related)  # the walks still explain them
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and scores[0] == 1.0
    # hybrid with PPR keeps the vector hits and still answers
    hybrid = await ppr.search(SearchQuery(scope, query, limit=3))
    assert {h.memory.text for h in hybrid} & related
