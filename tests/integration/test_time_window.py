"""A query that names a time ("in June", "in May 2023", "last summer") ranks the memories of that
time higher: said then, or about a fact that began then."""

from __future__ import annotations

from datetime import UTC, datetime

from recalld.kernel.domain import ChatMessage, Scope, Validity
from recalld.kernel.requests import AddCommand, SearchQuery
from recalld.server.app import App
from tests.integration.test_lexical_search import retriever

JUNE, AUGUST, ASKED = (
    datetime(2023, 6, 12, tzinfo=UTC),
    datetime(2023, 8, 20, tzinfo=UTC),
    datetime(2023, 9, 1, tzinfo=UTC),
)


async def test_the_named_month_decides_between_two_similar_memories(app: App) -> None:
    scope = Scope("camper")
    # two trips worded alike; the August one is worded a little closer to the question
    await app.memories.add(
        AddCommand(scope, [ChatMessage("user", "I went camping with the kids.")], reference_time=JUNE)
    )
    await app.memories.add(
        AddCommand(scope, [ChatMessage("user", "I went camping with my kids.")], reference_time=AUGUST)
    )
    at = Validity(as_of=ASKED)
    query = "When did I go camping in June?"

    off = await retriever(app, time_alpha=0.0).search(SearchQuery(scope, query, validity=at))
    assert off[0].memory.reference_time == AUGUST  # without the window the wording wins
    on = await retriever(app, time_alpha=0.1).search(SearchQuery(scope, query, validity=at))
    assert on[0].memory.reference_time == JUNE
    assert on[0].retrievers  # the window is a boost, never reported as a retriever
    assert "time" not in {r.value for h in on for r in h.retrievers}

    # no time named, or a time nothing was said in: the same order as without the window
    plain = await retriever(app, time_alpha=0.1).search(SearchQuery(scope, "When did I go camping?", validity=at))
    assert [h.memory.id for h in plain] == [
        h.memory.id
        for h in await retriever(app, time_alpha=0.0).search(SearchQuery(scope, "When did I go camping?", validity=at))
    ]


async def test_first_and_last_order_the_relevant_memories_by_time(app: App) -> None:
    scope = Scope("reader")
    may = datetime(2023, 5, 3, tzinfo=UTC)
    # worded alike: relevance cannot tell them apart, the order asked for does
    await app.memories.add(AddCommand(scope, [ChatMessage("user", "I read the novel Emma.")], reference_time=JUNE))
    await app.memories.add(AddCommand(scope, [ChatMessage("user", "I read the novel Dune.")], reference_time=AUGUST))
    await app.memories.add(
        AddCommand(scope, [ChatMessage("user", "My sister visited me.")], reference_time=may)
    )  # older
    at = Validity(as_of=ASKED)

    first = await retriever(app, time_alpha=0.1).search(
        SearchQuery(scope, "What was the first novel I read?", validity=at)
    )
    last = await retriever(app, time_alpha=0.1).search(
        SearchQuery(scope, "What was the last novel I read?", validity=at)
    )
    assert first[0].memory.reference_time == JUNE and last[0].memory.reference_time == AUGUST
    # the visit is older than both, but not about novels: ordering does not lift it to the top
    assert "sister" not in first[0].memory.text
    unordered = await retriever(app, time_alpha=0.1, time_order_alpha=0).search(
        SearchQuery(scope, "What was the first novel I read?", validity=at)
    )
    assert {h.memory.id for h in unordered} == {h.memory.id for h in first}  # reordered, never more or fewer


async def test_after_an_event_ranks_what_was_said_soon_after_it(app: App) -> None:
    scope = Scope("driver")
    crash, day_after, weeks_before = (
        datetime(2023, 7, 1, tzinfo=UTC),
        datetime(2023, 7, 2, tzinfo=UTC),
        datetime(2023, 6, 10, tzinfo=UTC),
    )
    for text, when in (
        ("We had a car accident on the highway.", crash),
        ("I felt shaken and scared for days.", day_after),
        ("I felt really scared driving on the highway.", weeks_before),  # worded a little closer
    ):
        await app.memories.add(AddCommand(scope, [ChatMessage("user", text)], reference_time=when))
    at = Validity(as_of=ASKED)
    query = "How did I feel after the accident?"
    on = [h.memory.reference_time for h in await retriever(app).search(SearchQuery(scope, query, validity=at))]
    off = [
        h.memory.reference_time
        for h in await retriever(app, time_order_alpha=0).search(SearchQuery(scope, query, validity=at))
    ]
    assert on == [crash, day_after, weeks_before]  # the event, then what came after it
    assert off == [crash, weeks_before, day_after]  # without the ordering the wording wins


async def test_the_latest_in_a_named_month_is_the_latest_of_that_month(app: App) -> None:
    scope = Scope("painter")
    early_july, late_july = datetime(2023, 7, 5, tzinfo=UTC), datetime(2023, 7, 25, tzinfo=UTC)
    for text, when in (
        ("We painted a sunset together.", early_july),
        ("We painted a lake together.", late_july),
        ("We painted a forest together.", AUGUST),
    ):
        await app.memories.add(AddCommand(scope, [ChatMessage("user", text)], reference_time=when))
    hits = await retriever(app, time_alpha=0.1).search(
        SearchQuery(scope, "What did we paint in our latest project in July?", validity=Validity(as_of=ASKED))
    )
    assert hits[0].memory.reference_time == late_july  # not August's, the latest of all


async def test_before_a_date_orders_by_closeness_to_that_date(app: App) -> None:
    scope = Scope("cyclist")
    april_2, april_20 = datetime(2023, 4, 2, tzinfo=UTC), datetime(2023, 4, 20, tzinfo=UTC)
    # worded alike; the date in the question is an anchor, not a period to look in
    await app.memories.add(AddCommand(scope, [ChatMessage("user", "I bought a red bike.")], reference_time=april_2))
    await app.memories.add(AddCommand(scope, [ChatMessage("user", "I bought a blue bike.")], reference_time=april_20))
    at = Validity(as_of=ASKED)
    before = await retriever(app).search(SearchQuery(scope, "Which bike did I buy before April 10, 2023?", validity=at))
    after = await retriever(app).search(SearchQuery(scope, "Which bike did I buy after April 10, 2023?", validity=at))
    assert before[0].memory.reference_time == april_2 and after[0].memory.reference_time == april_20
