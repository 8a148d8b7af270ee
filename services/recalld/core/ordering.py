"""Questions about the first or the last of something ("When did she first paint?", "What was
the last book he read?", "Where does he live now?"): which end of the timeline the query asks
for, and the ranking boost that puts the relevant memories of that end first.

The boost is not a retriever: it reorders only the memories that are already among the best
``k`` by relevance (what the query is about), earliest or latest first by the time the memory
was said (or its fact began, when that was resolved). Applied to every candidate, it would lift
the user's oldest or newest small talk over the answer.

"last" followed by a unit of time ("last week", "last summer", "last May") names a period, which
:func:`recalld.core.dates.find_and_resolve` turns into a window; it is not an ordering."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence

from recalld.kernel.domain import Memory
from recalld.kernel.times import to_micros


class Order(enum.Enum):
    EARLIEST = "earliest"
    LATEST = "latest"


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


def order_in(query: str) -> Order | None:
    """The end of the timeline the query asks for; None when it asks for neither, or both."""
    early, late = bool(_EARLIEST.search(query)), bool(_LATEST.search(query))
    if early == late:
        return None
    return Order.EARLIEST if early else Order.LATEST


def _when(memory: Memory) -> int:
    return to_micros(memory.valid_from if memory.valid_from is not None else memory.reference_time)


def order_scores(ranked: Sequence[str], memories: Mapping[str, Memory], order: Order, k: int) -> dict[str, float]:
    """1.0 for the memory at the asked-for end among the first ``k`` of ``ranked`` (best first),
    falling linearly to 0.0 at the other end; nothing for the rest."""
    top = [m for m in ranked[:k] if m in memories]
    if len(top) < 2:
        return {}
    sign = 1 if order is Order.EARLIEST else -1
    by_time = sorted(top, key=lambda m: (sign * _when(memories[m]), m))
    last = len(by_time) - 1
    return {m: 1.0 - i / last for i, m in enumerate(by_time)}
