"""Time expressions in conversation, resolved against the message's reference time.

"I moved to Paris last month", said on 2023-05-20, names April 2023; recalld uses the start of
that span as the fact's ``valid_from``. :func:`resolve` takes a phrase ("last month"),
:func:`find_and_resolve` finds the first phrase in a sentence. Both return a :class:`TimeSpan`
(start inclusive, end exclusive, aware UTC) with its granularity, or None.

Rules (reference R; English only; the week runs Monday to Sunday; calendar units are those of
R's own UTC offset, so "yesterday" said at 23:30 in New York is New York's yesterday, returned
in UTC; a naive R is UTC):

* today / tonight / this morning|afternoon|evening: R's day. yesterday, last night, the day
  before yesterday, tomorrow, the day after tomorrow: that day.
* last|this|next week|month|year|weekend: that calendar span ("last week" = the Monday-to-Sunday
  week before R's; "last weekend" or "this past weekend" said on a weekend = the one before it). "the week|month|year
  before last": two back. "the past week|month|year": the 7, 30 or 365 days before R's day;
  "the past|last N days|weeks|months|years": the N units before R's day.
* N hours|days|weeks|fortnights|months|years|decades ago (or "back"; N in digits or words up to
  fifty, "a"/"an" = 1, "a couple (of)" = 2, "a few"/"few"/"several" = 3, "a dozen" = 12): the
  hour, day, week, month or year that lies N units before R (a decade is 10 years).
* Weekdays: "last Tuesday" and a bare "Tuesday"/"on Tuesday" mean the most recent Tuesday
  strictly before R's day (conversations mostly report the past; on a Tuesday, "on Tuesday" is
  a week ago). "next Tuesday" and "this coming Tuesday" mean the first Tuesday strictly after
  R's day; "this Tuesday" the Tuesday of R's week.
* Seasons (northern hemisphere, meteorological: spring = March-May, summer = June-August,
  autumn/fall = September-November, winter = December-February): "last summer" = the most
  recent summer that ended before R; "this summer" = the one of R's year (winter: the one R is
  in, or else the coming one); "next summer" = the first that has not started by R; "summer
  2019" / "the summer of 2019" = that year's (winter 2019 = December 2019 - February 2020).
* Years 1900-2099: "2019", "in 2019", "since 2019", "back in 2019", "mid-2019" = the year.
* Months: "in May", "since May", "May 2023", "in May 2023" = the most recent May not after R's
  month unless a year is given; "last May" = the most recent May strictly before R's month;
  "next May" = the first after it; "this May" = R's year's.
* Days: "3 December", "on 3 December", "3rd of December", "December 3rd", "Dec. 3, 2022",
  "7 May 2023" (without a year, the most recent such day not after R; parsed by ``dateparser``,
  English only, no language detection, nothing downloaded, which also puts "29 February" in the
  last leap year), "2023-05-07", "3.12.2022" (day.month.year), and "25/12/2022" or "12/25/2022"
  when the order is clear (one number above 12, or both equal); an ambiguous "5/7/2023" names
  only the year.
* Words that merely look like times do not fire in :func:`find_and_resolve`: a month name counts
  only when capitalized (or, but for may and march, written in full with a day or year) and when it has a day, a year or
  a leading in/since/during/until/by/before/after/from/of/early/late/mid/last/this/next ("May I
  ask", "I may go", "March on", "June said" do not fire); a bare year does not fire after
  $/£/€/#/at, a label word (room, page, flight, version, ...) or inside a number ("1.2.2023"),
  nor before % or a plural noun ("2000 followers", "2000 people"), even after a leading word.
  :func:`resolve` is given a phrase that is a time, so "May" alone resolves there.
* Not resolved (None): durations ("for two weeks"), frequencies ("often", "every morning"),
  ages ("34 years old"), vague times ("recently", "the other day", "a while ago"), futures with
  "in" ("in two weeks"), decades ("the 90s"), "on the 5th".

Cost (measured 2026-11-25 on the 2-core dev box under other load, Python 3.11, dateparser
1.5.0, best of 3 runs): importing this module costs about 60 ms, nearly all of it importing
``dateparser``. :func:`find_and_resolve` first lowercases the sentence into a word set and tries
only the patterns whose trigger words (or a digit) it holds: a typical sentence without any
time word ("I work as a software engineer at a small company in Berlin and I love hiking.")
costs about 3 µs; one with a trigger word but no time ("... I will come back next time."),
about 16 µs; one with a relative expression, weekday or year ("... moved to Paris last month
...", "... three weeks ago ...", "on Tuesday", "in 2019"), about 14-17 µs; a day with a month
name ("on 3 December") goes through dateparser, about 0.6 ms, and the first such call in a
process loads dateparser's English data once, about 90 ms more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import dateparser

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
# Full month names that may also be written in lower case when a day or year follows ("june 2021").
_LOWER_OK = {"january", "february", "april", "june", "july", "august", "september", "october", "november", "december"}
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "a few": 3, "few": 3, "a couple of": 2, "a couple": 2,
    "couple of": 2, "several": 3, "a dozen": 12,
}  # fmt: skip
_SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}

_WD = "|".join(_WEEKDAYS)
_MON = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NUM = r"\d+|" + "|".join(sorted((re.escape(k) for k in _NUMBERS), key=len, reverse=True))
_SEASON = "|".join(_SEASONS)
_YEAR = r"(?:19|20)\d{2}"
# Words that let a month name or a year stand on its own in a sentence ("in May", "since 2019").
_LEAD = r"back in|in early|in late|in mid|in|since|during|until|till|by|before|after|from|of|early|late|mid"

# Tried in order; in a sentence the earliest match wins, then the earlier pattern.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?!\d)")),
    ("numeric", re.compile(r"\b(\d{1,2})([/.])(\d{1,2})\2(\d{4}|\d{2})(?![\d/.]\d)")),
    ("dayword", re.compile(r"\b(the day before yesterday|the day after tomorrow|yesterday|today|tonight|"
                           r"tomorrow|last night|this (?:morning|afternoon|evening))\b", re.I)),
    ("ago", re.compile(rf"\b({_NUM})\s+(hour|day|week|fortnight|month|year|decade)s?\s+(?:ago|back)\b", re.I)),
    ("recent", re.compile(rf"\b(?:the\s+(?:last|past)|past)\s+({_NUM})\s+(day|week|month|year)s?\b", re.I)),
    ("before_last", re.compile(r"\bthe\s+(week|month|year)\s+before\s+last\b", re.I)),
    ("rel", re.compile(r"\b(last|this|next|past)\s+(week|month|year|weekend)\b", re.I)),
    ("season", re.compile(rf"\b(last|this|next)\s+({_SEASON})\b", re.I)),
    ("season_year", re.compile(rf"\b({_SEASON})\s+(?:of\s+)?({_YEAR})\b", re.I)),
    ("weekday", re.compile(rf"\b(?:(last|next|this coming|this|on)\s+)?({_WD})\b", re.I)),
    ("date", re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MON})\b\.?(?:,?\s+({_YEAR})\b)?", re.I)),
    ("date", re.compile(rf"\b(?:(last|this|next|{_LEAD})[\s-]+)?({_MON})\b\.?"
                        rf"(?:\s+(\d{{1,2}})(?:st|nd|rd|th)?\b)?(?:,?\s+({_YEAR})\b)?", re.I)),
    ("year", re.compile(rf"\b(?:({_LEAD})[\s-]+)?({_YEAR})\b", re.I)),
]  # fmt: skip
# The cheap pre-check of find_and_resolve: a pattern is tried on a sentence only when the
# sentence has one of its words ("#": a digit); most sentences have none and cost a few µs.
_DIGIT = "#"
_TRIGGERS: dict[str, frozenset[str]] = {
    "iso": frozenset((_DIGIT,)),
    "numeric": frozenset((_DIGIT,)),
    "dayword": frozenset(("yesterday", "today", "tonight", "tomorrow", "night", "morning", "afternoon", "evening")),
    "ago": frozenset(("ago", "back")),
    "recent": frozenset(("last", "past")),
    "before_last": frozenset(("last",)),
    "rel": frozenset(("last", "this", "next", "past")),
    "season": frozenset(_SEASONS),
    "season_year": frozenset(_SEASONS),
    "weekday": frozenset(_WEEKDAYS),
    "date": frozenset(_MONTHS),
    "year": frozenset((_DIGIT,)),
}
_ALL_TRIGGERS = frozenset().union(*_TRIGGERS.values())
_WORD = re.compile(r"[a-z]+")
_HAS_DIGIT = re.compile(r"\d")
_MODAL_MAY = re.compile(r"may\s+(?:(i|we|you|he|she|it|they)|be|have|not|also|well)\b", re.I)
_NOT_YEAR_BEFORE = re.compile(
    r"(?:[$£€#]|\d[./-]|\b(?:at|room|no|number|pin|code|page|flight|bus|route|apt|apartment|suite|model|version|id)\.?\s*)$",
    re.I,
)
_NOT_YEAR_AFTER = re.compile(
    r"\s*%|\s+(?:(?!(?:was|is|has|as|this|his|its|us|always|perhaps)\b)[a-z]+s|people|men|women|children|feet|km|kg)\b"
)


@dataclass(frozen=True, slots=True)
class TimeSpan:
    start: datetime  # inclusive, aware UTC
    end: datetime  # exclusive, aware UTC
    granularity: str  # "hour", "day", "week", "month", "season", "year"
    # The phrase itself places the time in the past ("yesterday", "3 weeks ago", "last May",
    # "in 2019", "2023-05-07" before the reference); False where the past is only this module's
    # preference ("on Tuesday", "3 December") or the time is not past ("next week", "today").
    past: bool = False


def resolve(phrase: str, reference: datetime) -> TimeSpan | None:
    """The span a time expression names, relative to ``reference`` (aware; naive means UTC).

    None when the phrase names no resolvable time ("34 years old", "often", "", "for two
    weeks"). A phrase that is not wholly one expression is searched like a sentence."""
    phrase = phrase.strip().rstrip(".,;!?")
    if not phrase:
        return None
    for kind, pattern in _PATTERNS:
        m = pattern.fullmatch(phrase)
        if m:
            return _resolve_match(kind, m, reference)
    return find_and_resolve(phrase, reference)


def find_and_resolve(text: str, reference: datetime) -> TimeSpan | None:
    """The span of the first time expression found anywhere in ``text``, or None."""
    words = set(_WORD.findall(text.lower()))
    if _HAS_DIGIT.search(text):
        words.add(_DIGIT)
    if _ALL_TRIGGERS.isdisjoint(words):
        return None
    found: list[tuple[int, int, str, re.Match[str]]] = []
    for order, (kind, pattern) in enumerate(_PATTERNS):
        if _TRIGGERS[kind].isdisjoint(words):
            continue
        for m in pattern.finditer(text):
            if _accept(kind, m, text):
                found.append((m.start(), order, kind, m))
                break
    for _, _, kind, m in sorted(found, key=lambda f: (f[0], f[1])):
        span = _resolve_match(kind, m, reference)
        if span is not None:
            return span
    return None


# -- internals ---------------------------------------------------------------------------------------
# Spans are computed on naive wall-clock datetimes in the reference's UTC offset, then shifted to UTC.


def _day(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


def _span_day(d: datetime) -> TimeSpan:
    start = _day(d)
    return TimeSpan(start, start + timedelta(days=1), "day")


def _span_week(d: datetime) -> TimeSpan:
    start = _day(d) - timedelta(days=d.weekday())
    return TimeSpan(start, start + timedelta(days=7), "week")


def _span_month(year: int, month: int) -> TimeSpan:
    start = datetime(year, month, 1)
    end = datetime(year + (month == 12), month % 12 + 1, 1)
    return TimeSpan(start, end, "month")


def _span_year(year: int) -> TimeSpan:
    return TimeSpan(datetime(year, 1, 1), datetime(year + 1, 1, 1), "year")


def _span_season(year: int, first_month: int) -> TimeSpan:
    start = datetime(year, first_month, 1)
    return TimeSpan(start, datetime(*_add_months(year, first_month, 3), 1), "season")


def _add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    k = year * 12 + (month - 1) + delta
    return k // 12, k % 12 + 1


def _minus_months(d: datetime, n: int) -> datetime:
    year, month = _add_months(d.year, d.month, -n)
    last_day = (datetime(*_add_months(year, month, 1), 1) - timedelta(days=1)).day
    return d.replace(year=year, month=month, day=min(d.day, last_day))


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[" ".join(word.lower().split())]


def _accept(kind: str, m: re.Match[str], text: str) -> bool:
    """Whether a match in a sentence is a time expression (see the module docstring)."""
    if kind == "numeric":  # not "1.2.23" nor "version 1.2.2023"
        return (m.group(2) == "/" or len(m.group(4)) == 4) and not _NOT_YEAR_BEFORE.search(text, 0, m.start())
    if kind == "year":
        if _NOT_YEAR_AFTER.match(text, m.end()):
            return False  # "2000 followers", "a total of 2000 people", "in 2019%"
        return m.group(1) is not None or not _NOT_YEAR_BEFORE.search(text, 0, m.start())
    if kind != "date":
        return True
    month = m.group(2)  # both date patterns keep the month name in group 2
    prefixed = m.re.groups == 4 and m.group(1) is not None
    numbered = any(g is not None and g.isdigit() for g in m.groups())
    if not (prefixed or numbered):
        return False  # a bare month name: "March on", "June said", "May was"
    if not month[:1].isupper() and not (numbered and month.lower() in _LOWER_OK):
        return False  # "let's march on", "in may"; months are written capitalized
    modal = _MODAL_MAY.match(text, m.start(2)) if month.lower() == "may" else None
    # "May I ask", "This May be true"; but "Last May I moved" and "Since May I have" are months
    return modal is None or (prefixed and modal.group(1) is not None)


def _resolve_match(kind: str, m: re.Match[str], reference: datetime) -> TimeSpan | None:
    aware = reference if reference.tzinfo is not None else reference.replace(tzinfo=UTC)
    offset = aware.utcoffset() or timedelta(0)
    ref = aware.replace(tzinfo=None)  # wall clock in the reference's offset
    span = _resolve_span(kind, m, ref)
    if span is None:
        return None
    words = m.group(0).lower()
    stated = (
        kind in ("iso", "numeric", "year", "ago", "recent", "before_last", "season_year")
        or (kind == "date" and m.groups()[-1] is not None)  # a year is given
        or bool(re.search(r"\b(?:yesterday|last|past|since)\b", words))
    )
    past = stated and span.end <= ref + timedelta(days=1) and span.start < ref
    return replace(
        span,
        start=(span.start - offset).replace(tzinfo=UTC),
        end=(span.end - offset).replace(tzinfo=UTC),
        past=past,
    )


def _resolve_span(kind: str, m: re.Match[str], ref: datetime) -> TimeSpan | None:
    if kind == "iso":
        try:
            return _span_day(datetime(int(m.group(1)), int(m.group(2)), int(m.group(3))))
        except ValueError:
            return None
    if kind == "numeric":
        return _numeric(int(m.group(1)), int(m.group(3)), m.group(4), m.group(2) == ".", ref)
    if kind == "dayword":
        word = " ".join(m.group(1).lower().split())
        offset = {"the day before yesterday": -2, "yesterday": -1, "last night": -1, "tomorrow": 1}.get(word, 0)
        return _span_day(ref + timedelta(days=2 if word == "the day after tomorrow" else offset))
    if kind == "ago":
        n, unit = _number(m.group(1)), m.group(2).lower()
        if unit == "hour":
            start = (ref - timedelta(hours=n)).replace(minute=0, second=0, microsecond=0)
            return TimeSpan(start, start + timedelta(hours=1), "hour")
        if unit == "day":
            return _span_day(ref - timedelta(days=n))
        if unit in ("week", "fortnight"):
            return _span_week(ref - timedelta(weeks=n * (2 if unit == "fortnight" else 1)))
        if unit == "month":
            return _span_month(*_add_months(ref.year, ref.month, -n))
        return _span_year(ref.year - n * (10 if unit == "decade" else 1))
    if kind == "recent":
        n, unit, end = _number(m.group(1)), m.group(2).lower(), _day(ref)
        if unit in ("day", "week"):
            start = end - timedelta(days=n * (7 if unit == "week" else 1))
        else:
            start = _minus_months(end, n * (12 if unit == "year" else 1))
        return TimeSpan(start, end, unit)
    if kind == "before_last":
        unit = m.group(1).lower()
        if unit == "week":
            return _span_week(ref - timedelta(weeks=2))
        if unit == "month":
            return _span_month(*_add_months(ref.year, ref.month, -2))
        return _span_year(ref.year - 2)
    if kind == "rel":
        return _relative(m.group(1).lower(), m.group(2).lower(), ref)
    if kind == "season":
        return _season(m.group(1).lower(), _SEASONS[m.group(2).lower()], ref)
    if kind == "season_year":
        return _span_season(int(m.group(2)), _SEASONS[m.group(1).lower()])
    if kind == "weekday":
        which = " ".join((m.group(1) or "").lower().split())
        target = _WEEKDAYS.index(m.group(2).lower())
        if which in ("next", "this coming"):
            delta = (target - ref.weekday()) % 7 or 7
        elif which == "this":
            delta = target - ref.weekday()
        else:
            delta = -((ref.weekday() - target) % 7 or 7)
        return _span_day(ref + timedelta(days=delta))
    if kind == "year":
        return _span_year(int(m.group(2)))
    if kind == "date":
        return _absolute(m, ref)
    return None


def _relative(which: str, unit: str, ref: datetime) -> TimeSpan:
    """last|this|next|past week|month|year|weekend."""
    if which == "past" and unit != "weekend":
        days = {"week": 7, "month": 30, "year": 365}[unit]
        return TimeSpan(_day(ref) - timedelta(days=days), _day(ref), unit)
    step = {"last": -1, "past": -1, "this": 0, "next": 1}[which]  # "this past weekend" = the last one
    if unit == "week":
        return _span_week(ref + timedelta(weeks=step))
    if unit == "weekend":
        saturday = _span_week(ref + timedelta(weeks=step)).start + timedelta(days=5)
        return TimeSpan(saturday, saturday + timedelta(days=2), "week")
    if unit == "month":
        return _span_month(*_add_months(ref.year, ref.month, step))
    return _span_year(ref.year + step)


def _season(which: str, first_month: int, ref: datetime) -> TimeSpan:
    """last|this|next spring|summer|autumn|fall|winter; a winter belongs to its December's year."""
    current = _span_season(ref.year - (first_month == 12 and ref.month < 3), first_month)
    if which == "last":
        return current if current.end <= ref else _span_season(current.start.year - 1, first_month)
    if which == "next":
        return current if current.start > ref else _span_season(current.start.year + 1, first_month)
    return current


def _numeric(a: int, b: int, year_text: str, dotted: bool, ref: datetime) -> TimeSpan | None:
    """3.12.2022 is day.month.year; 3/12/2022 is a day only when the order is clear, else the year."""
    year = int(year_text)
    if len(year_text) == 2:
        year += 2000 if 2000 + year <= ref.year + 10 else 1900
    if dotted or a > 12 or a == b:
        day, month = a, b
    elif b > 12:
        day, month = b, a
    else:
        return _span_year(year)
    try:
        return _span_day(datetime(year, month, day))
    except ValueError:
        return None


def _absolute(m: re.Match[str], ref: datetime) -> TimeSpan | None:
    """Month names with or without a day and a year; days through dateparser."""
    if m.re.groups == 3:  # "3 December [2022]"
        day, month_name, year = m.groups()
        prefix = ""
    else:  # "[in] December [3rd] [2022]"
        prefix, month_name, day, year = m.groups()
        prefix = " ".join((prefix or "").lower().split())
    month = _MONTHS[month_name.lower()]
    if day is None:
        if year is not None:
            return _span_month(int(year), month)
        if prefix == "next":
            y = ref.year + (month <= ref.month)
        elif prefix == "this":
            y = ref.year
        elif prefix == "last":
            y = ref.year - (month >= ref.month)
        else:
            y = ref.year - (month > ref.month)
        return _span_month(y, month)
    parsed = dateparser.parse(
        f"{day} {month_name} {year or ''}".strip(),
        languages=["en"],
        settings={
            "RELATIVE_BASE": ref,
            "PREFER_DATES_FROM": "future" if prefix in ("next", "this") else "past",
            "RETURN_AS_TIMEZONE_AWARE": False,
            "TIMEZONE": "UTC",
        },
    )
    return None if parsed is None else _span_day(parsed)
