"""A change the rules could not tie to the fact it changes still answers a question about the
present first (recalld.core.currency), while a question placed in time keeps what held then."""

from __future__ import annotations

from datetime import UTC, datetime

from recalld.kernel.domain import ChatMessage, Scope, Validity
from recalld.kernel.requests import AddCommand, SearchQuery
from recalld.server.app import App
from tests.integration.test_lexical_search import retriever

MARCH, JUNE = datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 6, 10, tzinfo=UTC)
OLD = "My piano lessons are with Mrs. Okoye on Monday evenings."
NEW = "The music school switched me to Mr. Brandt because of her maternity leave."


async def _history(app: App, user: str) -> Scope:
    scope = Scope(user)
    for when, text in ((MARCH, OLD), (JUNE, NEW)):
        await app.memories.add(AddCommand(scope, [ChatMessage("user", text)], reference_time=when))
    return scope


async def test_a_question_about_now_finds_the_newer_change_first(app: App) -> None:
    scope = await _history(app, "pianist")
    query = "Who gives me piano lessons?"
    both = await retriever(app, current_first_k=0).search(SearchQuery(scope, query))
    assert [h.memory.text for h in both[:2]] == [OLD, NEW]  # both current; the older names the lessons
    now = await retriever(app, current_first_k=3).search(SearchQuery(scope, query))
    assert [h.memory.text for h in now[:2]] == [NEW, OLD]
    assert {h.memory.id for h in now} == {h.memory.id for h in both}  # reordered, never more or fewer
    assert [h.score for h in now] == sorted((h.score for h in now), reverse=True)
    # "now" asks for the latest: a question about the present as well
    latest = await retriever(app, current_first_k=3).search(SearchQuery(scope, "Who gives me piano lessons now?"))
    assert latest[0].memory.text == NEW


async def test_a_question_placed_in_time_keeps_what_held_then(app: App) -> None:
    scope = await _history(app, "pianist-then")
    on = retriever(app, current_first_k=3)
    then = await on.search(SearchQuery(scope, "Who gave me piano lessons in April?"))
    assert then[0].memory.text == OLD
    before = await on.search(SearchQuery(scope, "Who gives me piano lessons?", validity=Validity(as_of=MARCH)))
    assert [h.memory.text for h in before] == [OLD]


async def test_someone_elses_change_does_not_displace_the_speakers_fact(app: App) -> None:
    """ "My cousin just moved to Bergen" reports a change, the cousin's: asked where the speaker
    lives, the speaker's own statement stays first. Someone who takes over a role of the
    speaker's (the piano teacher above) does displace the older holder."""
    scope = Scope("homebody")
    for when, text in ((MARCH, "I live in Tromso, near the harbour."), (JUNE, "My cousin just moved to Bergen.")):
        await app.memories.add(AddCommand(scope, [ChatMessage("user", text)], reference_time=when))
    hits = await retriever(app, current_first_k=3).search(SearchQuery(scope, "Where do I live?"))
    assert hits[0].memory.text == "I live in Tromso, near the harbour."
