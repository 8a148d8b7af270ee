"""Time expressions in conversation, resolved against the message's reference time.

"I moved to Paris last month", said on 2023-05-20, names April 2023; recalld uses the start of
that span as the fact's ``valid_from``. :func:`resolve` takes a phrase ("last month"),
:func:`find_and_resolve` finds the first phrase in a sentence. Both return a :class:`TimeSpan`
(start inclusive, end exclusive, UTC) with its granularity, or None.

Rules (reference R; English only; the week starts on Monday):

* today / tonight / this morning|afternoon|evening: R's day. yesterday, the day before
  yesterday, tomorrow: that day.
* last|this|next week|month|year|weekend: that calendar span ("last week" = the Monday-to-Sunday
  week before R's). "the past week": the 7 days before R.
* N days|weeks|months|years ago (N in digits or words, "a", "a few" = 3, "a couple of" = 2,
  "several" = 3): the day, week, month or year that lies N units before R.
* Weekdays: "last Tuesday" and a bare "Tuesday"/"on Tuesday" mean the most recent Tuesday
  strictly before R's day (conversations mostly report); "next Tuesday" and "this coming
  Tuesday" the first Tuesday after R's day.
* Seasons (northern hemisphere, meteorological): "last summer" = June-August of the most recent
  summer that ended before R; "this summer" = R's year's.
* Absolute dates: "in 2019" / "since 2019" (the year), "in May" / "last May" (the most recent
  May not after R's month), "May 2023", "3 December", "December 3rd", "7 May 2023",
  "2023-05-07" (the day; without a year, the most recent such day not after R). Parsed by
  ``dateparser`` (English only, no language detection, nothing downloaded), whose output is
  turned into a span here.
* "May" is a month only when capitalized and not followed by a pronoun ("May I ask" is not),
  or when preceded by in/last/since/this/next or followed by a day or year.

Cost (2 cores, measured 2026-11-25): a sentence without a time word is rejected by one regex in
about 2 µs; a sentence with a relative expression resolves in about 20 µs (own rules); absolute
dates go through dateparser at about 0.5-1 ms (its first call loads its tables: about 100 ms,
paid at the first fact with a date; importing the module costs about 70 ms).
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
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a few": 3, "a couple of": 2,
    "a couple": 2, "several": 3,
}  # fmt: skip
_SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}

_WD = "|".join(_WEEKDAYS)
_MON = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NUM = r"\d+|" + "|".join(sorted((re.escape(k) for k in _NUMBERS), key=len, reverse=True))
_UNIT = r"day|week|month|year"

# Tried in order; the first match in a sentence wins (earliest position among equals).
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")),
    ("dayword", re.compile(r"\b(the day before yesterday|yesterday|today|tonight|tomorrow|"
                           r"this (?:morning|afternoon|evening))\b", re.I)),
    ("ago", re.compile(rf"\b({_NUM})\s+({_UNIT})s?\s+ago\b", re.I)),
    ("rel", re.compile(rf"\b(last|this|next|past)\s+({_UNIT}|weekend)\b", re.I)),
    ("season", re.compile(r"\b(last|this|next)\s+(spring|summer|autumn|fall|winter)\b", re.I)),
    ("weekday", re.compile(rf"\b(?:(last|next|this coming|on)\s+)?({_WD})\b", re.I)),
    ("date", re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MON})\.?(?:,?\s+(\d{{4}}))?\b", re.I)),
    ("date", re.compile(rf"\b(?:(in|last|since|this|next|during)\s+)?({_MON})\.?"
                        rf"(?:\s+(\d{{1,2}})(?:st|nd|rd|th)?\b)?(?:,?\s+(\d{{4}}))?\b", re.I)),
    ("year", re.compile(r"\b(?:(in|since|during|back in)\s+)?((?:19|20)\d{2})\b", re.I)),
]  # fmt: skip
_ANY = re.compile(
    rf"\b(?:{_WD}|{_MON}|yesterday|today|tonight|tomorrow|ago|last|next|this|past|(?:19|20)\d\d|\d{{4}}-\d\d)\b",
    re.I,
)
_MODAL_MAY = re.compile(r"^may\s+(?:i|we|you|he|she|it|they|be|have|not|also|well)\b", re.I)


@dataclass(frozen=True, slots=True)
class TimeSpan:
    start: datetime  # inclusive, aware UTC
    end: datetime  # exclusive, aware UTC
    granularity: str  # "day", "week", "month", "year", "season"
    # The phrase itself places the time in the past ("yesterday", "3 weeks ago", "last May",
    # "in 2019", "2023-05-07" before the reference); False where the past is only this module's
    # preference ("on Tuesday", "3 December") or the time is not past ("next week", "today").
    past: bool = False


def resolve(phrase: str, reference: datetime) -> TimeSpan | None:
    """The span a time expression names, relative to ``reference`` (aware; naive means UTC)."""
    phrase = phrase.strip()
    if not phrase:
        return None
    for kind, pattern in _PATTERNS:
        m = pattern.fullmatch(phrase) or pattern.fullmatch(phrase.rstrip(".,;!?"))
        if m:
            return _resolve_match(kind, m, _utc(reference))
    return find_and_resolve(phrase, reference)


def find_and_resolve(text: str, reference: datetime) -> TimeSpan | None:
    """The span of the first time expression found in ``text``, or None."""
    if not _ANY.search(text):
        return None
    ref = _utc(reference)
    found: list[tuple[int, int, str, re.Match[str]]] = []
    for order, (kind, pattern) in enumerate(_PATTERNS):
        for m in pattern.finditer(text):
            if _accept(kind, m, text):
                found.append((m.start(), order, kind, m))
                break
    for _, _, kind, m in sorted(found, key=lambda f: (f[0], f[1])):
        span = _resolve_match(kind, m, ref)
        if span is not None:
            return span
    return None


# -- internals ---------------------------------------------------------------------------------------


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _day(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


def _span_day(d: datetime) -> TimeSpan:
    start = _day(d)
    return TimeSpan(start, start + timedelta(days=1), "day")


def _span_week(d: datetime) -> TimeSpan:
    start = _day(d) - timedelta(days=d.weekday())
    return TimeSpan(start, start + timedelta(days=7), "week")


def _span_month(year: int, month: int) -> TimeSpan:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return TimeSpan(start, end, "month")


def _span_year(year: int) -> TimeSpan:
    return TimeSpan(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC), "year")


def _add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    k = year * 12 + (month - 1) + delta
    return k // 12, k % 12 + 1


def _accept(kind: str, m: re.Match[str], text: str) -> bool:
    """Whether a match is a time expression: "May" only as a month (see the module docstring)."""
    if kind != "date":
        return True
    month = m.group(2)  # both date patterns keep the month name in group 2
    prefixed = m.re.groups == 4 and m.group(1) is not None
    numbered = any(g is not None and g.isdigit() for g in m.groups())
    if not month[:1].isupper() and not (numbered and len(month) > 3):
        return False  # "let's march on"; months are written capitalized
    if month.lower() == "may":
        at = m.start(2)
        return prefixed or numbered or not _MODAL_MAY.match(text[at:])
    return True


def _resolve_match(kind: str, m: re.Match[str], ref: datetime) -> TimeSpan | None:
    span = _resolve_span(kind, m, ref)
    if span is None:
        return None
    words = m.group(0).lower()
    stated = (
        kind in ("iso", "year")
        or (kind == "date" and m.groups()[-1] is not None)  # a year is given
        or kind == "ago"
        or bool(re.search(r"\b(?:yesterday|last|past|since)\b", words))
    )
    return replace(span, past=stated and span.end <= ref + timedelta(days=1) and span.start < ref)


def _resolve_span(kind: str, m: re.Match[str], ref: datetime) -> TimeSpan | None:
    if kind == "iso":
        try:
            return _span_day(datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=UTC))
        except ValueError:
            return None
    if kind == "dayword":
        word = m.group(1).lower()
        offset = {"the day before yesterday": -2, "yesterday": -1, "tomorrow": 1}.get(word, 0)
        return _span_day(ref + timedelta(days=offset))
    if kind == "ago":
        n = int(m.group(1)) if m.group(1).isdigit() else _NUMBERS[m.group(1).lower()]
        unit = m.group(2).lower()
        if unit == "day":
            return _span_day(ref - timedelta(days=n))
        if unit == "week":
            return _span_week(ref - timedelta(weeks=n))
        if unit == "month":
            return _span_month(*_add_months(ref.year, ref.month, -n))
        return _span_year(ref.year - n)
    if kind == "rel":
        which, unit = m.group(1).lower(), m.group(2).lower()
        if which == "past":
            days = {"day": 1, "week": 7, "month": 30, "year": 365, "weekend": 7}[unit]
            return TimeSpan(_day(ref) - timedelta(days=days), _day(ref), "day" if days == 1 else unit)
        step = {"last": -1, "this": 0, "next": 1}[which]
        if unit == "day":
            return _span_day(ref + timedelta(days=step))
        if unit == "week":
            return _span_week(ref + timedelta(weeks=step))
        if unit == "weekend":
            saturday = _span_week(ref + timedelta(weeks=step)).start + timedelta(days=5)
            if which == "last" and ref.weekday() >= 5:  # said during a weekend: the one before
                saturday = _span_week(ref).start + timedelta(days=5) - timedelta(weeks=1)
            return TimeSpan(saturday, saturday + timedelta(days=2), "week")
        if unit == "month":
            return _span_month(*_add_months(ref.year, ref.month, step))
        return _span_year(ref.year + step)
    if kind == "season":
        which, season = m.group(1).lower(), _SEASONS[m.group(2).lower()]
        year = ref.year
        start_month = season
        this_start = datetime(year - (season == 12 and ref.month < 3), start_month, 1, tzinfo=UTC)
        if which == "last":
            end = datetime(*_add_months(this_start.year, this_start.month, 3), 1, tzinfo=UTC)
            if end > ref:  # this season has not ended yet: the one a year before
                this_start = datetime(this_start.year - 1, start_month, 1, tzinfo=UTC)
        elif which == "next" and this_start <= ref:
            this_start = datetime(this_start.year + 1, start_month, 1, tzinfo=UTC)
        end = datetime(*_add_months(this_start.year, this_start.month, 3), 1, tzinfo=UTC)
        return TimeSpan(this_start, end, "season")
    if kind == "weekday":
        which = (m.group(1) or "").lower()
        target = _WEEKDAYS.index(m.group(2).lower())
        if which in ("next", "this coming"):
            delta = (target - ref.weekday()) % 7 or 7
            return _span_day(ref + timedelta(days=delta))
        delta = (ref.weekday() - target) % 7 or 7
        return _span_day(ref - timedelta(days=delta))
    if kind == "year":
        return _span_year(int(m.group(2)))
    if kind == "date":
        return _absolute(m, ref)
    return None


def _absolute(m: re.Match[str], ref: datetime) -> TimeSpan | None:
    """Month names with or without a day and year, via dateparser for the day-level parse."""
    groups = m.groups()
    if m.re.groups == 3:  # "3 December [2022]"
        day, month_name, year = groups
        prefix = None
    else:  # "[in] December [3rd] [2022]"
        prefix, month_name, day, year = groups
    month = _MONTHS[month_name.lower().rstrip(".")]
    if day is None:
        if year is not None:
            return _span_month(int(year), month)
        y = ref.year if month <= ref.month else ref.year - 1
        if (prefix or "").lower() == "next" or ((prefix or "").lower() == "this" and month > ref.month):
            y = ref.year if month > ref.month else ref.year + 1
        return _span_month(y, month)
    parsed = dateparser.parse(
        m.group(0) if prefix is None else m.group(0)[len(prefix) :].strip(),
        languages=["en"],
        settings={
            "RELATIVE_BASE": ref.replace(tzinfo=None),
            "PREFER_DATES_FROM": "past",
            "RETURN_AS_TIMEZONE_AWARE": False,
            "TIMEZONE": "UTC",
        },
    )
    if parsed is None:
        return None
    return _span_day(parsed.replace(tzinfo=UTC))
