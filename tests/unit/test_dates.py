"""Time expressions resolved against a reference time (recalld.core.dates), table-driven."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import dateparser
import pytest

from recalld.core import dates
from recalld.core.dates import TimeSpan, find_and_resolve, resolve

REF = datetime(2023, 5, 20, 13, tzinfo=UTC)  # a Saturday


def _at(d: date | datetime) -> datetime:
    return d if isinstance(d, datetime) else datetime.combine(d, time(), UTC)


def _check(span: TimeSpan | None, start: date | datetime, end: date | datetime, granularity: str) -> TimeSpan:
    assert span is not None
    assert (span.start, span.end, span.granularity) == (_at(start), _at(end), granularity)
    assert span.start.tzinfo is UTC and span.end.tzinfo is UTC
    return span


D = date
CASES = [
    # phrase, start, end (exclusive), granularity, stated as past
    # days
    ("today", D(2023, 5, 20), D(2023, 5, 21), "day", False),
    ("tonight", D(2023, 5, 20), D(2023, 5, 21), "day", False),
    ("this morning", D(2023, 5, 20), D(2023, 5, 21), "day", False),
    ("this afternoon", D(2023, 5, 20), D(2023, 5, 21), "day", False),
    ("this evening", D(2023, 5, 20), D(2023, 5, 21), "day", False),
    ("yesterday", D(2023, 5, 19), D(2023, 5, 20), "day", True),
    ("last night", D(2023, 5, 19), D(2023, 5, 20), "day", True),
    ("the day before yesterday", D(2023, 5, 18), D(2023, 5, 19), "day", True),
    ("tomorrow", D(2023, 5, 21), D(2023, 5, 22), "day", False),
    ("the day after tomorrow", D(2023, 5, 22), D(2023, 5, 23), "day", False),
    # calendar weeks (Monday to Sunday), weekends, months, years
    ("last week", D(2023, 5, 8), D(2023, 5, 15), "week", True),
    ("this week", D(2023, 5, 15), D(2023, 5, 22), "week", False),
    ("next week", D(2023, 5, 22), D(2023, 5, 29), "week", False),
    ("the week before last", D(2023, 5, 1), D(2023, 5, 8), "week", True),
    ("last weekend", D(2023, 5, 13), D(2023, 5, 15), "week", True),
    ("this past weekend", D(2023, 5, 13), D(2023, 5, 15), "week", True),
    ("this weekend", D(2023, 5, 20), D(2023, 5, 22), "week", False),
    ("next weekend", D(2023, 5, 27), D(2023, 5, 29), "week", False),
    ("last month", D(2023, 4, 1), D(2023, 5, 1), "month", True),
    ("this month", D(2023, 5, 1), D(2023, 6, 1), "month", False),
    ("next month", D(2023, 6, 1), D(2023, 7, 1), "month", False),
    ("the month before last", D(2023, 3, 1), D(2023, 4, 1), "month", True),
    ("last year", D(2022, 1, 1), D(2023, 1, 1), "year", True),
    ("this year", D(2023, 1, 1), D(2024, 1, 1), "year", False),
    ("next year", D(2024, 1, 1), D(2025, 1, 1), "year", False),
    # the N units before the reference's day
    ("the past week", D(2023, 5, 13), D(2023, 5, 20), "week", True),
    ("the past month", D(2023, 4, 20), D(2023, 5, 20), "month", True),
    ("the past few days", D(2023, 5, 17), D(2023, 5, 20), "day", True),
    ("the last couple of weeks", D(2023, 5, 6), D(2023, 5, 20), "week", True),
    ("the last 3 months", D(2023, 2, 20), D(2023, 5, 20), "month", True),
    ("the past two years", D(2021, 5, 20), D(2023, 5, 20), "year", True),
    # N units ago
    ("an hour ago", datetime(2023, 5, 20, 12, tzinfo=UTC), datetime(2023, 5, 20, 13, tzinfo=UTC), "hour", True),
    ("3 hours ago", datetime(2023, 5, 20, 10, tzinfo=UTC), datetime(2023, 5, 20, 11, tzinfo=UTC), "hour", True),
    ("a few days ago", D(2023, 5, 17), D(2023, 5, 18), "day", True),
    ("twenty days ago", D(2023, 4, 30), D(2023, 5, 1), "day", True),
    ("a week ago", D(2023, 5, 8), D(2023, 5, 15), "week", True),
    ("two weeks ago", D(2023, 5, 1), D(2023, 5, 8), "week", True),
    ("a couple of weeks ago", D(2023, 5, 1), D(2023, 5, 8), "week", True),
    ("a fortnight ago", D(2023, 5, 1), D(2023, 5, 8), "week", True),
    ("3 months ago", D(2023, 2, 1), D(2023, 3, 1), "month", True),
    ("three months ago", D(2023, 2, 1), D(2023, 3, 1), "month", True),
    ("several months ago", D(2023, 2, 1), D(2023, 3, 1), "month", True),
    ("a year ago", D(2022, 1, 1), D(2023, 1, 1), "year", True),
    ("a couple of years ago", D(2021, 1, 1), D(2022, 1, 1), "year", True),
    ("two years back", D(2021, 1, 1), D(2022, 1, 1), "year", True),
    ("a decade ago", D(2013, 1, 1), D(2014, 1, 1), "year", True),
    # weekdays (the reference is a Saturday)
    ("Tuesday", D(2023, 5, 16), D(2023, 5, 17), "day", False),
    ("on Tuesday", D(2023, 5, 16), D(2023, 5, 17), "day", False),
    ("on Saturday", D(2023, 5, 13), D(2023, 5, 14), "day", False),
    ("last Tuesday", D(2023, 5, 16), D(2023, 5, 17), "day", True),
    ("next Tuesday", D(2023, 5, 23), D(2023, 5, 24), "day", False),
    ("this coming Friday", D(2023, 5, 26), D(2023, 5, 27), "day", False),
    ("this Sunday", D(2023, 5, 21), D(2023, 5, 22), "day", False),
    # seasons (northern hemisphere, meteorological)
    ("last summer", D(2022, 6, 1), D(2022, 9, 1), "season", True),
    ("this summer", D(2023, 6, 1), D(2023, 9, 1), "season", False),
    ("last winter", D(2022, 12, 1), D(2023, 3, 1), "season", True),
    ("last fall", D(2022, 9, 1), D(2022, 12, 1), "season", True),
    ("the summer of 2019", D(2019, 6, 1), D(2019, 9, 1), "season", True),
    ("winter 2019", D(2019, 12, 1), D(2020, 3, 1), "season", True),
    # years
    ("2019", D(2019, 1, 1), D(2020, 1, 1), "year", True),
    ("in 2019", D(2019, 1, 1), D(2020, 1, 1), "year", True),
    ("since 2019", D(2019, 1, 1), D(2020, 1, 1), "year", True),
    ("back in 2010", D(2010, 1, 1), D(2011, 1, 1), "year", True),
    ("mid-2019", D(2019, 1, 1), D(2020, 1, 1), "year", True),
    ("in 2023", D(2023, 1, 1), D(2024, 1, 1), "year", False),  # not over yet
    # months
    ("May", D(2023, 5, 1), D(2023, 6, 1), "month", False),
    ("in May", D(2023, 5, 1), D(2023, 6, 1), "month", False),
    ("in June", D(2022, 6, 1), D(2022, 7, 1), "month", False),
    ("since March", D(2023, 3, 1), D(2023, 4, 1), "month", True),
    ("last May", D(2022, 5, 1), D(2022, 6, 1), "month", True),
    ("last March", D(2023, 3, 1), D(2023, 4, 1), "month", True),
    ("next May", D(2024, 5, 1), D(2024, 6, 1), "month", False),
    ("this June", D(2023, 6, 1), D(2023, 7, 1), "month", False),
    ("May 2023", D(2023, 5, 1), D(2023, 6, 1), "month", False),
    ("in May 2023", D(2023, 5, 1), D(2023, 6, 1), "month", False),
    ("in March 2021", D(2021, 3, 1), D(2021, 4, 1), "month", True),
    ("Sept 2021", D(2021, 9, 1), D(2021, 10, 1), "month", True),
    # days
    ("3 December", D(2022, 12, 3), D(2022, 12, 4), "day", False),
    ("on 3 December", D(2022, 12, 3), D(2022, 12, 4), "day", False),
    ("3rd of December", D(2022, 12, 3), D(2022, 12, 4), "day", False),
    ("December 3rd", D(2022, 12, 3), D(2022, 12, 4), "day", False),
    ("3 December 2022", D(2022, 12, 3), D(2022, 12, 4), "day", True),
    ("Dec. 3, 2022", D(2022, 12, 3), D(2022, 12, 4), "day", True),
    ("20 May", D(2023, 5, 20), D(2023, 5, 21), "day", False),  # the reference's own day
    ("25 May", D(2022, 5, 25), D(2022, 5, 26), "day", False),  # not after the reference
    ("29 February", D(2020, 2, 29), D(2020, 3, 1), "day", False),  # the last leap year
    ("7 May 2023", D(2023, 5, 7), D(2023, 5, 8), "day", True),
    ("2023-05-07", D(2023, 5, 7), D(2023, 5, 8), "day", True),
    ("3.12.2022", D(2022, 12, 3), D(2022, 12, 4), "day", True),  # day.month.year
    ("25/12/2022", D(2022, 12, 25), D(2022, 12, 26), "day", True),
    ("12/25/2022", D(2022, 12, 25), D(2022, 12, 26), "day", True),
    ("5/7/2022", D(2022, 1, 1), D(2023, 1, 1), "year", True),  # ambiguous order: only the year
]


@pytest.mark.parametrize(("phrase", "start", "end", "granularity", "past"), CASES, ids=[c[0] for c in CASES])
def test_resolve(phrase: str, start: date | datetime, end: date | datetime, granularity: str, past: bool) -> None:
    span = _check(resolve(phrase, REF), start, end, granularity)
    assert span.past is past


@pytest.mark.parametrize(
    "phrase",
    [
        "",
        "   ",
        "34 years old",
        "for two weeks",
        "often",
        "every morning",
        "recently",
        "the other day",
        "a while ago",
        "in two weeks",
        "the 90s",
        "31 February",
        "2023-13-01",
        "May I ask",
        "March on",
    ],
)
def test_resolve_no_time(phrase: str) -> None:
    assert resolve(phrase, REF) is None


SENTENCES = [
    ("Actually I moved to Paris last month.", D(2023, 4, 1), D(2023, 5, 1), "month"),
    ("I married Anna in 2019.", D(2019, 1, 1), D(2020, 1, 1), "year"),
    ("It was 2019 when I moved.", D(2019, 1, 1), D(2020, 1, 1), "year"),
    ("We met on Tuesday at the cafe.", D(2023, 5, 16), D(2023, 5, 17), "day"),
    ("I started taking metformin yesterday.", D(2023, 5, 19), D(2023, 5, 20), "day"),
    ("Last night I went out.", D(2023, 5, 19), D(2023, 5, 20), "day"),
    ("Three weeks ago I adopted a dog.", D(2023, 4, 24), D(2023, 5, 1), "week"),
    ("I moved to Berlin a few years ago.", D(2020, 1, 1), D(2021, 1, 1), "year"),
    ("May 2023 was busy.", D(2023, 5, 1), D(2023, 6, 1), "month"),
    ("Since May I have been vegan.", D(2023, 5, 1), D(2023, 6, 1), "month"),
    ("Last May I went to Rome.", D(2022, 5, 1), D(2022, 6, 1), "month"),
    ("Back in March I quit.", D(2023, 3, 1), D(2023, 4, 1), "month"),
    ("I started the job in early June.", D(2022, 6, 1), D(2022, 7, 1), "month"),
    ("I went there in december 2021.", D(2021, 12, 1), D(2022, 1, 1), "month"),
    ("Mark's birthday is 3 December.", D(2022, 12, 3), D(2022, 12, 4), "day"),
    ("We signed on 2023-05-07T10:00.", D(2023, 5, 7), D(2023, 5, 8), "day"),
    ("I met June yesterday.", D(2023, 5, 19), D(2023, 5, 20), "day"),  # June is a person here
    ("I saw Will last week.", D(2023, 5, 8), D(2023, 5, 15), "week"),
    ("I fell last fall.", D(2022, 9, 1), D(2022, 12, 1), "season"),
    ("Over the past three months I ran daily.", D(2023, 2, 20), D(2023, 5, 20), "month"),
    ("He left last month, in April.", D(2023, 4, 1), D(2023, 5, 1), "month"),  # the first one wins
    ("I'll see her next Friday.", D(2023, 5, 26), D(2023, 5, 27), "day"),
    ("We had a sunday roast.", D(2023, 5, 14), D(2023, 5, 15), "day"),  # accepted: weekdays always count
]


@pytest.mark.parametrize(("text", "start", "end", "granularity"), SENTENCES, ids=[s[0] for s in SENTENCES])
def test_find_and_resolve(text: str, start: date, end: date, granularity: str) -> None:
    _check(find_and_resolve(text, REF), start, end, granularity)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I live in Berlin.",
        "I may go to Rome.",
        "May I ask you something?",
        "This May be true.",
        "Let's march on.",
        "March on, soldiers!",
        "June said hello.",
        "I will be there.",
        "The second opinion helped.",
        "I'm 34 years old.",
        "I have 2000 followers.",
        "A total of 2000 people came.",
        "I paid $2019 for it.",
        "Room 2021 is mine.",
        "Meet me at 1930.",
        "Install version 1.2.2023 first.",
        "It didn't last a week.",
        "Next time I will ask.",
        "I want this.",
        "I go running every morning.",
        "I was there for two weeks.",
    ],
)
def test_find_and_resolve_does_not_fire(text: str) -> None:
    assert find_and_resolve(text, REF) is None


# The weekday rule, from other days: bare/"last" = the most recent one strictly before the
# reference's day, "next"/"this coming" = the first strictly after it, "this" = in its week.
MONDAY, TUESDAY = datetime(2023, 5, 15, 9, tzinfo=UTC), datetime(2023, 5, 16, 9, tzinfo=UTC)
WEEKDAYS = [
    (MONDAY, "Friday", D(2023, 5, 12)),
    (MONDAY, "next Tuesday", D(2023, 5, 16)),
    (MONDAY, "this Friday", D(2023, 5, 19)),
    (TUESDAY, "Tuesday", D(2023, 5, 9)),
    (TUESDAY, "last Tuesday", D(2023, 5, 9)),
    (TUESDAY, "this Tuesday", D(2023, 5, 16)),
    (TUESDAY, "next Tuesday", D(2023, 5, 23)),
    (TUESDAY, "this coming Monday", D(2023, 5, 22)),
]


@pytest.mark.parametrize(("reference", "phrase", "day"), WEEKDAYS, ids=[f"{r:%a} {p}" for r, p, _ in WEEKDAYS])
def test_weekday_rule(reference: datetime, phrase: str, day: date) -> None:
    _check(resolve(phrase, reference), day, day + timedelta(days=1), "day")


OTHER_REFERENCES = [
    (datetime(2023, 1, 15, tzinfo=UTC), "last winter", D(2021, 12, 1), D(2022, 3, 1), "season"),
    (datetime(2023, 1, 15, tzinfo=UTC), "this winter", D(2022, 12, 1), D(2023, 3, 1), "season"),
    (datetime(2023, 1, 15, tzinfo=UTC), "next winter", D(2023, 12, 1), D(2024, 3, 1), "season"),
    (datetime(2023, 7, 1, tzinfo=UTC), "last spring", D(2023, 3, 1), D(2023, 6, 1), "season"),
    (datetime(2023, 7, 1, tzinfo=UTC), "last summer", D(2022, 6, 1), D(2022, 9, 1), "season"),
    (datetime(2023, 1, 10, tzinfo=UTC), "last month", D(2022, 12, 1), D(2023, 1, 1), "month"),
    (datetime(2023, 1, 3, tzinfo=UTC), "last week", D(2022, 12, 26), D(2023, 1, 2), "week"),
    (datetime(2023, 3, 31, tzinfo=UTC), "3 months ago", D(2022, 12, 1), D(2023, 1, 1), "month"),
    (datetime(2023, 3, 31, tzinfo=UTC), "the past month", D(2023, 3, 1), D(2023, 3, 31), "month"),
    (datetime(2023, 1, 5, tzinfo=UTC), "in December", D(2022, 12, 1), D(2023, 1, 1), "month"),
    (datetime(2023, 5, 22, tzinfo=UTC), "last weekend", D(2023, 5, 20), D(2023, 5, 22), "week"),  # a Monday
]


@pytest.mark.parametrize(
    ("reference", "phrase", "start", "end", "granularity"),
    OTHER_REFERENCES,
    ids=[f"{r:%Y-%m-%d} {p}" for r, p, *_ in OTHER_REFERENCES],
)
def test_other_references(reference: datetime, phrase: str, start: date, end: date, granularity: str) -> None:
    _check(resolve(phrase, reference), start, end, granularity)


def test_naive_reference_means_utc() -> None:
    span = resolve("yesterday", REF.replace(tzinfo=None))
    assert span is not None and span.start == datetime(2023, 5, 19, tzinfo=UTC)


def test_calendar_of_the_reference_offset() -> None:
    """01:30 on 20 May in Tokyo is 16:30 on 19 May in UTC; "yesterday" is Tokyo's 19 May."""
    tokyo = datetime(2023, 5, 20, 1, 30, tzinfo=timezone(timedelta(hours=9)))
    span = resolve("yesterday", tokyo)
    assert span is not None
    assert (span.start, span.end) == (datetime(2023, 5, 18, 15, tzinfo=UTC), datetime(2023, 5, 19, 15, tzinfo=UTC))
    assert span.past


def test_dateparser_is_english_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = dateparser.parse

    def spy(text: str, **kwargs: Any) -> datetime | None:
        calls.append(kwargs)
        result: datetime | None = real(text, **kwargs)
        return result

    monkeypatch.setattr(dates.dateparser, "parse", spy)
    _check(find_and_resolve("We met on 3 December.", REF), D(2022, 12, 3), D(2022, 12, 4), "day")
    assert calls and all(c["languages"] == ["en"] for c in calls)
    assert calls[0]["settings"]["RELATIVE_BASE"] == datetime(2023, 5, 20, 13)
