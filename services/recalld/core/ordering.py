"""Questions that place what they ask for on the timeline: the first or the last of something
("When did she first paint?", "What was the last book he read?", "Where does he live now?"), or
what came before or after an event ("How did she feel after the accident?", "What did he do
before moving to Boston?", "...since starting boot camp?").

The boost is not a retriever: it reorders only the memories that are already among the best
``k`` by relevance (what the query is about), by the time each was said (or its fact began, when
that was resolved). Applied to every candidate, it would lift the user's oldest or newest small
talk over the answer.

- first / last: earliest (or latest) first; the boost is 1 / (1 + place) in that order.
- before / after an event: the event is a date when the phrase resolves to one ("after May 3,
  2023"), else the memory among those ``k`` that shares the most words with the phrase (the
  anchor). The anchor ranks first (the memory that tells of the event often tells what came of
  it: "after the race I realized..."), then the memories on the asked side of it by closeness
  to it: what someone felt after an accident is most likely said soon after it.
- with a named period ("the latest project in July"), only the memories of that period are
  ordered: the latest in July, not the latest of all.

"last" followed by a unit of time ("last week", "last summer", "last May") names a period, which
:func:`recalld.core.dates.find_and_resolve` turns into a window; it is not an ordering."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from recalld.core.lexical import lexical_terms
from recalld.kernel.domain import Memory
from recalld.kernel.times import to_micros


class Order(enum.Enum):
    EARLIEST = "earliest"
    LATEST = "latest"
    BEFORE = "before"
    AFTER = "after"


@dataclass(frozen=True, slots=True)
class TimeOrder:
    """What the query asks of the timeline; ``event``: the phrase after "before" / "after"."""

    order: Order
    event: str = ""


_PERIOD = (
    r"(?:night|evening|morning|week|weekend|month|year|summer|winter|spring|autumn|fall|time\s+we\s+spoke|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"january|february|march|april|may|june|july|august|september|october|november|december)s?"
)
# "first place", "first aid": a rank or a name, not a time
_EARLIEST = re.compile(
    r"\b(?:first(?!\s+(?:place|prize|aid|name|class|language|hand|grade|lady)\b)|earliest|initially|originally|"
    r"to\s+begin\s+with)\b",
    re.I,
)
_LATEST = re.compile(
    rf"\b(?:last(?!\s+{_PERIOD}\b)|latest|most\s+recent(?:ly)?|these\s+days|nowadays|currently|now)\b", re.I
)
# the event runs to the end of the clause
# ("after school", "before bed": a time of every day, not an event to order against)
_RELATIVE = re.compile(
    r"\b(before|after|since|until|till)\s+(?!(?:school|work|class|classes|lunch|dinner|breakfast|bed|church|"
    r"practice|training)\s*(?:[?.!,;]|$))([^?.!,;]+(?:,\s*\d{4}\b)?)",
    re.I,
)
_SIDE = {
    "before": Order.BEFORE,
    "until": Order.BEFORE,
    "till": Order.BEFORE,
    "after": Order.AFTER,
    "since": Order.AFTER,
}


def order_in(query: str) -> TimeOrder | None:
    """What the query asks of the timeline: before / after an event first (a question that names
    an event places its answer against it), else one end; None when neither, or both ends."""
    m = _RELATIVE.search(query)
    if m and lexical_terms(m.group(2)):
        return TimeOrder(_SIDE[m.group(1).lower()], m.group(2).strip())
    early, late = bool(_EARLIEST.search(query)), bool(_LATEST.search(query))
    if early == late:
        return None
    return TimeOrder(Order.EARLIEST if early else Order.LATEST)


def _when(memory: Memory) -> int:
    """When the fact began (Memory sets it to the reference time unless the text dated it)."""
    return to_micros(memory.valid_from or memory.reference_time)


def _by_place(ordered: Sequence[str]) -> dict[str, float]:
    """1 / (1 + place): the first clearly ahead of the second, whatever the number ordered (a
    linear fall from 1 to 0 would shrink that gap as more hits are ordered)."""
    return {m: 1.0 / (1 + i) for i, m in enumerate(ordered)}


def _shared_words(a: set[str], text: str) -> int:
    """Words of ``a`` in ``text``, two words matching when their first five letters do
    ("accident" ~ "accidents", "adoption" ~ "adopting"; not "moving" ~ "moved"): enough to tell
    which of a few relevant memories tells of the event."""
    words = {w[:5] for w in lexical_terms(text)}
    return sum(1 for w in a if w[:5] in words)


def order_scores(
    ranked: Sequence[str],
    memories: Mapping[str, Memory],
    order: TimeOrder,
    k: int,
    event_time: datetime | None = None,
) -> dict[str, float]:
    """Boosts in (0, 1] for the first ``k`` of ``ranked`` (best first); nothing for the rest.
    ``event_time``: when the event of a before / after question is a date, that date."""
    top = [m for m in ranked[:k] if m in memories]
    if order.order in (Order.EARLIEST, Order.LATEST):
        if len(top) < 2:
            return {}
        sign = 1 if order.order is Order.EARLIEST else -1
        return _by_place(sorted(top, key=lambda m: (sign * _when(memories[m]), m)))
    anchor: str | None = None
    if event_time is not None:
        at = to_micros(event_time)
    else:
        event = set(lexical_terms(order.event))
        overlap = {m: _shared_words(event, memories[m].text) for m in top}
        anchor = max(top, key=lambda m: overlap[m], default=None)  # the best-ranked among the most
        if anchor is None or overlap[anchor] == 0:
            return {}
        at = _when(memories[anchor])
    after = order.order is Order.AFTER
    side = [m for m in top if m == anchor or (_when(memories[m]) > at if after else _when(memories[m]) < at)]
    if len(side) < 2 and anchor is not None:
        return {}
    # the anchor first: the memory that tells of the event often tells what came of it ("after the
    # race I realized ..."); then the others by closeness to it
    return _by_place(sorted(side, key=lambda m: (m != anchor, abs(_when(memories[m]) - at), m)))
