"""First / last questions (recalld.core.ordering): which end of the timeline a query asks for,
and the boost that orders only the already-relevant hits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recalld.core.ordering import Order, TimeOrder, order_in, order_scores
from recalld.kernel.domain import Memory, Scope

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def memory(mid: str, days: int, began: int | None = None, text: str = "") -> Memory:
    at = T0 + timedelta(days=days)
    return Memory(
        id=mid,
        text=text or mid,
        scope=Scope("alice"),
        metadata={},
        created_at=at,
        updated_at=at,
        reference_time=at,
        valid_from=None if began is None else T0 + timedelta(days=began),
    )


@pytest.mark.parametrize(
    ("query", "order"),
    [
        ("When did Melanie first paint a sunrise?", Order.EARLIEST),
        ("What was the earliest trip she mentioned?", Order.EARLIEST),
        ("What did he originally want to study?", Order.EARLIEST),
        ("What was the last book Caroline read?", Order.LATEST),
        ("Where does Jon live now?", Order.LATEST),
        ("What is her most recent project?", Order.LATEST),
        ("When did he last see a doctor?", Order.LATEST),
        # a named period is a window (recalld.core.dates), not an ordering
        ("What did she do last week?", None),
        ("Where did they go last summer?", None),
        ("What did he read last May?", None),
        ("What book did she read in May?", None),
        ("Which was first and which was last?", None),  # both: no side taken
        ("Is she knowledgeable about snow?", None),  # "now" only as a word
        # a time of every day, not an event to order against
        ("Who picks the kids up after school?", None),
        ("What do I eat before bed?", None),
    ],
)
def test_which_end_the_query_asks_for(query: str, order: Order | None) -> None:
    found = order_in(query)
    assert (found.order if found else None) is order


def test_only_the_relevant_hits_are_ordered_earliest_first() -> None:
    mems = {m.id: m for m in (memory("a", 5), memory("b", 1), memory("c", 9), memory("old-small-talk", 0))}
    ranked = ["a", "b", "c", "old-small-talk"]  # by relevance; the small talk is below the cut
    assert order_scores(ranked, mems, TimeOrder(Order.EARLIEST), k=3) == {"b": 1.0, "a": 0.5, "c": 1 / 3}
    assert order_scores(ranked, mems, TimeOrder(Order.LATEST), k=3) == {"c": 1.0, "a": 0.5, "b": 1 / 3}


def test_a_resolved_start_counts_before_when_it_was_said() -> None:
    # said on day 9 that the fact began on day 2 ("I started pottery last week")
    mems = {"late-said": memory("late-said", 9, began=2), "mid": memory("mid", 5)}
    assert order_scores(["mid", "late-said"], mems, TimeOrder(Order.EARLIEST), k=2) == {"late-said": 1.0, "mid": 0.5}


def test_nothing_to_order_among_fewer_than_two() -> None:
    assert order_scores(["a"], {"a": memory("a", 1)}, TimeOrder(Order.LATEST), k=10) == {}
    assert order_scores(["gone", "a"], {"a": memory("a", 1)}, TimeOrder(Order.LATEST), k=10) == {}


@pytest.mark.parametrize(
    ("query", "order", "event"),
    [
        ("How did Melanie feel after the accident?", Order.AFTER, "the accident"),
        ("What did Jean go through before meeting Maria?", Order.BEFORE, "meeting Maria"),
        ("How has his fitness improved since starting boot camps?", Order.AFTER, "starting boot camps"),
        ("What did she read until the exam, and why?", Order.BEFORE, "the exam"),
        ("When did he first run after the surgery?", Order.AFTER, "the surgery"),  # the event decides
        ("What did she do after?", None, ""),  # no event named: no side to take
        ("What did she buy before April 10, 2023?", Order.BEFORE, "April 10, 2023"),
    ],
)
def test_before_and_after_an_event(query: str, order: Order | None, event: str) -> None:
    found = order_in(query)
    assert (found.order if found else None) is order
    assert (found.event if found else "") == event


def test_after_an_event_ranks_the_closest_later_memories_first() -> None:
    mems = {
        m.id: m
        for m in (
            memory("before", 1, text="I felt fine driving."),
            memory("crash", 3, text="We had a car accident on the highway."),
            memory("week-later", 10, text="I felt grateful for my family."),
            memory("day-later", 4, text="I felt shaken and scared."),
            memory("unrelated-later", 5, text="I bought a lamp."),  # below the cut
        )
    }
    ranked = ["week-later", "crash", "day-later", "before", "unrelated-later"]
    after = order_scores(ranked, mems, TimeOrder(Order.AFTER, "the accident"), k=4)
    # the anchor first (it may tell what came of the event), then the closest after it; before: nothing
    assert after == {"crash": 1.0, "day-later": 0.5, "week-later": 1 / 3}
    before = order_scores(ranked, mems, TimeOrder(Order.BEFORE, "the accidents"), k=4)
    assert before == {"crash": 1.0, "before": 0.5}


def test_an_event_that_is_a_date_needs_no_anchor() -> None:
    mems = {m.id: m for m in (memory("a", 1), memory("b", 5), memory("c", 8))}
    at = T0 + timedelta(days=4)
    assert order_scores(["c", "a", "b"], mems, TimeOrder(Order.AFTER, "May 3"), k=3, event_time=at) == {
        "b": 1.0,
        "c": 0.5,
    }
    assert order_scores(["c", "a", "b"], mems, TimeOrder(Order.BEFORE, "May 3"), k=3, event_time=at) == {"a": 1.0}


def test_no_memory_tells_of_the_event_no_boost() -> None:
    mems = {m.id: m for m in (memory("a", 1, text="I like tea."), memory("b", 5, text="I like coffee."))}
    assert order_scores(["a", "b"], mems, TimeOrder(Order.AFTER, "the wedding"), k=2) == {}
