"""What in a sentence is a time: words of time, DATE/TIME entities, dates one can put in a
calendar, and the long numbers the recognizer takes for dates.

Times are never objects of a clause (they go to ``hints["time"]``); a calendar date is an object
of the fallback (recalld.extraction.fallback: "an MRI on Wednesday").
"""

from __future__ import annotations

from spacy.tokens import Span, Token

MONTHS = frozenset(
    {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"}
)  # fmt: skip

TEMPORAL = frozenset(
    {"today", "tomorrow", "yesterday", "tonight", "morning", "afternoon", "evening", "night", "day",
     "week", "weekend", "month", "year", "decade", "time", "moment", "hour", "minute", "season",
     "summer", "winter", "autumn", "monday", "tuesday", "wednesday", "thursday", "friday",
     "saturday", "sunday"}
)  # fmt: skip

DATE_WORDS = frozenset(
    {"ago", "last", "next", "this", "every", "early", "late", "mid", "past", "recent", "coming", "previous",
     "following", "spring", "fall", "daily", "weekly", "monthly", "yearly", "annual", "annually", "nightly",
     "hours", "days", "weeks", "months", "years", "decades", "centuries", "the", "a", "an", "of", "s", "'s",
     "90s", "80s", "70s", "60s", "am", "pm", "noon", "midnight", "o'clock", "half", "quarter", "couple", "few",
     "several", "recently", "lately", "once", "twice", "century", "era", "semester", "term", "holidays",
     "christmas", "easter", "summer", "winter", "autumn", "weekend", "weekends", "weekday", "weekdays", "birthday",
     "anniversary", "tomorrow", "yesterday", "today", "tonight", "now", "then", "soon", "later", "earlier", "first",
     "second", "third", "fourth", "end", "beginning", "start", "middle", "rest", "until", "since"}
)  # fmt: skip

_DAYS = MONTHS | {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}


def is_temporal(t: Token) -> bool:
    """A word of time ("yesterday", "May"), or a number or time word of a DATE/TIME entity."""
    if t.lemma_.lower() in TEMPORAL or t.lower_ in MONTHS:
        return True
    # The small model sometimes labels a place DATE ("living in Manchester") or a word it does not
    # know ("I no longer take zoradril"): a word of a DATE is a time when it is a number or a word
    # of time ("three weeks ago", "the 90s").
    return t.ent_type_ in ("DATE", "TIME") and t.pos_ != "PROPN" and (t.like_num or t.lower_ in DATE_WORDS)


def is_time_entity(e: Span) -> bool:
    return e.label_ in ("DATE", "TIME") and any(is_temporal(t) or t.like_num for t in e) and not is_number(e.text)


def is_number(text: str) -> bool:
    """A phone number or another long number the recognizer may take for a date ("07700 900461")."""
    return sum(c.isdigit() for c in text) >= 7 and not any(c.isalpha() for c in text)


def names_day(e: Span) -> bool:
    """A date one can put in a calendar: it names a month or a weekday ("May 3", "next Tuesday")."""
    return any(t.lower_.rstrip("s") in _DAYS or t.lower_ in _DAYS for t in e)
