"""Who said it: every memory records its speaker, and in a scope where several people talk a
question about one of them ranks what that person said above what the others said to them."""

from __future__ import annotations

from datetime import UTC, datetime

from recalld.kernel.domain import ChatMessage, Scope, Validity
from recalld.kernel.requests import AddCommand, SearchQuery
from recalld.server.app import App
from tests.integration.test_lexical_search import retriever

SAID, ASKED = datetime(2023, 6, 12, tzinfo=UTC), datetime(2023, 7, 1, tzinfo=UTC)


async def test_each_memory_records_who_said_it(app: App) -> None:
    scope = Scope("alice")
    _, named = await app.memories.add(
        AddCommand(scope, [ChatMessage("user", "I adopted a greyhound.", name="Caroline")])
    )
    _, unnamed = await app.memories.add(AddCommand(scope, [ChatMessage("user", "My cat Luna caught a cold.")]))
    assert [e.memory.speaker for e in named] == ["Caroline"]
    assert [e.memory.speaker for e in unnamed] == ["alice"]  # no name: the scope's user
    stored = await app.graph.get_memories([named[0].memory.id], scope)
    assert stored[named[0].memory.id].speaker == "Caroline"


async def test_a_question_about_one_speaker_ranks_her_own_words_first(app: App) -> None:
    scope = Scope("conv")
    turns = [
        ("Caroline", "The transgender stories at the meeting were so inspiring!"),
        ("Melanie", "Caroline, your stories are always so inspiring to me!"),
        ("Melanie", "I took my kids to the museum."),
        ("Caroline", "I went hiking last weekend."),
    ]
    for speaker, text in turns:
        await app.memories.add(AddCommand(scope, [ChatMessage("user", text, name=speaker)], reference_time=SAID))
    at = Validity(as_of=ASKED)
    query = "Which stories did Caroline find inspiring?"

    off = await retriever(app, speaker_alpha=0.0).search(SearchQuery(scope, query, validity=at))
    assert off[0].memory.speaker == "Melanie"  # her words to Caroline are worded closer
    on = await retriever(app, speaker_alpha=0.1).search(SearchQuery(scope, query, validity=at))
    assert on[0].memory.speaker == "Caroline" and "transgender" in on[0].memory.text
    assert {h.memory.id for h in on} == {h.memory.id for h in off}  # reordered, never more or fewer
    assert "speaker" not in {r.value for h in on for r in h.retrievers}  # a boost, not a retriever

    # both named, or neither: nothing to tell apart, the order is the unboosted one
    for q in ("What did Caroline and Melanie find inspiring?", "Which stories were inspiring?"):
        with_boost = await retriever(app, speaker_alpha=0.1).search(SearchQuery(scope, q, validity=at))
        without = await retriever(app, speaker_alpha=0.0).search(SearchQuery(scope, q, validity=at))
        assert [h.memory.id for h in with_boost] == [h.memory.id for h in without]
