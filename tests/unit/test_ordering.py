"""First / last questions (recalld.core.ordering): which end of the timeline a query asks for,
and the boost that orders only the already-relevant hits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recalld.core.ordering import Order, order_in, order_scores
from recalld.kernel.domain import Memory, Scope

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def memory(mid: str, days: int, began: int | None = None) -> Memory:
    at = T0 + timedelta(days=days)
    return Memory(
        id=mid,
        text=mid,
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
    ],
)
def test_which_end_the_query_asks_for(query: str, order: Order | None) -> None:
    assert order_in(query) is order


def test_only_the_relevant_hits_are_ordered_earliest_first() -> None:
    mems = {m.id: m for m in (memory("a", 5), memory("b", 1), memory("c", 9), memory("old-small-talk", 0))}
    ranked = ["a", "b", "c", "old-small-talk"]  # by relevance; the small talk is below the cut
    assert order_scores(ranked, mems, Order.EARLIEST, k=3) == {"b": 1.0, "a": 0.5, "c": 0.0}
    assert order_scores(ranked, mems, Order.LATEST, k=3) == {"c": 1.0, "a": 0.5, "b": 0.0}


def test_a_resolved_start_counts_before_when_it_was_said() -> None:
    # said on day 9 that the fact began on day 2 ("I started pottery last week")
    mems = {"late-said": memory("late-said", 9, began=2), "mid": memory("mid", 5)}
    assert order_scores(["mid", "late-said"], mems, Order.EARLIEST, k=2) == {"late-said": 1.0, "mid": 0.0}


def test_nothing_to_order_among_fewer_than_two() -> None:
    assert order_scores(["a"], {"a": memory("a", 1)}, Order.LATEST, k=10) == {}
    assert order_scores(["gone", "a"], {"a": memory("a", 1)}, Order.LATEST, k=10) == {}
