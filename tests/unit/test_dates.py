"""Time expressions resolved against a reference time (recalld.core.dates), table-driven."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from recalld.core.dates import find_and_resolve, resolve

REF = datetime(2023, 5, 20, 13, tzinfo=UTC)  # a Saturday

CASES = [
    # phrase, start, end (exclusive), granularity, stated as past
    ("today", date(2023, 5, 20), date(2023, 5, 21), "day", False),
    ("this morning", date(2023, 5, 20), date(2023, 5, 21), "day", False),
    ("yesterday", date(2023, 5, 19), date(2023, 5, 20), "day", True),
    ("the day before yesterday", date(2023, 5, 18), date(2023, 5, 19), "day", True),
    ("tomorrow", date(2023, 5, 21), date(2023, 5, 22), "day", False),
    ("last week", date(2023, 5, 8), date(2023, 5, 15), "week", True),
    ("next week", date(2023, 5, 22), date(2023, 5, 29), "week", False),
    ("last weekend", date(2023, 5, 13), date(2023, 5, 15), "week", True),
    ("last month", date(2023, 4, 1), date(2023, 5, 1), "month", True),
    ("this month", date(2023, 5, 1), date(2023, 6, 1), "month", False),
    ("next month", date(2023, 6, 1), date(2023, 7, 1), "month", False),
    ("last year", date(2022, 1, 1), date(2023, 1, 1), "year", True),
    ("3 months ago", date(2023, 2, 1), date(2023, 3, 1), "month", True),
    ("three months ago", date(2023, 2, 1), date(2023, 3, 1), "month", True),
    ("a week ago", date(2023, 5, 8), date(2023, 5, 15), "week", True),
    ("two weeks ago", date(2023, 5, 1), date(2023, 5, 8), "week", True),
    ("a few days ago", date(2023, 5, 17), date(2023, 5, 18), "day", True),
    ("a couple of years ago", date(2021, 1, 1), date(2022, 1, 1), "year", True),
    ("Tuesday", date(2023, 5, 16), date(2023, 5, 17), "day", False),
    ("on Saturday", date(2023, 5, 13), date(2023, 5, 14), "day", False),
    ("last Tuesday", date(2023, 5, 16), date(2023, 5, 17), "day", True),
    ("next Tuesday", date(2023, 5, 23), date(2023, 5, 24), "day", False),
    ("this coming Friday", date(2023, 5, 26), date(2023, 5, 27), "day", False),
    ("in 2019", date(2019, 1, 1), date(2020, 1, 1), "year", True),
    ("since 2019", date(2019, 1, 1), date(2020, 1, 1), "year", True),
    ("in May", date(2023, 5, 1), date(2023, 6, 1), "month", False),
    ("in June", date(2022, 6, 1), date(2022, 7, 1), "month", False),
    ("last May", date(2023, 5, 1), date(2023, 6, 1), "month", False),
    ("May 2023", date(2023, 5, 1), date(2023, 6, 1), "month", False),
    ("in March 2021", date(2021, 3, 1), date(2021, 4, 1), "month", True),
    ("3 December", date(2022, 12, 3), date(2022, 12, 4), "day", False),
    ("December 3rd", date(2022, 12, 3), date(2022, 12, 4), "day", False),
    ("7 May 2023", date(2023, 5, 7), date(2023, 5, 8), "day", True),
    ("2023-05-07", date(2023, 5, 7), date(2023, 5, 8), "day", True),
    ("last summer", date(2022, 6, 1), date(2022, 9, 1), "season", True),
]


@pytest.mark.parametrize(("phrase", "start", "end", "granularity", "past"), CASES, ids=[c[0] for c in CASES])
def test_resolve(phrase: str, start: date, end: date, granularity: str, past: bool) -> None:
    span = resolve(phrase, REF)
    assert span is not None
    assert (span.start.date(), span.end.date(), span.granularity, span.past) == (start, end, granularity, past)
    assert span.start.tzinfo is UTC


@pytest.mark.parametrize("phrase", ["", "34 years old", "for two weeks", "often", "every morning"])
def test_no_time(phrase: str) -> None:
    assert resolve(phrase, REF) is None


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("Actually I moved to Paris last month.", date(2023, 4, 1)),
        ("I married Anna in 2019.", date(2019, 1, 1)),
        ("We met on Tuesday at the cafe.", date(2023, 5, 16)),
        ("I started taking metformin yesterday.", date(2023, 5, 19)),
        ("Three weeks ago I adopted a dog.", date(2023, 4, 24)),
        ("May 2023 was busy.", date(2023, 5, 1)),
        ("I may go to Rome.", None),
        ("May I ask you something?", None),
        ("Let's march on.", None),
        ("I live in Berlin.", None),
        ("The second opinion helped.", None),
        ("I'm 34 years old.", None),
    ],
)
def test_find_and_resolve(text: str, start: date | None) -> None:
    span = find_and_resolve(text, REF)
    assert (span.start.date() if span else None) == start


def test_naive_reference_means_utc() -> None:
    span = resolve("yesterday", REF.replace(tzinfo=None))
    assert span is not None and span.start == datetime(2023, 5, 19, tzinfo=UTC)
