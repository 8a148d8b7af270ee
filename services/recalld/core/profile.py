"""Attributes, profiles and decay: what "living memory" computes from stored memories (pure).

Attributes are structured facts about the scope's user that memories carry (``allergies =
penicillin``). Each name is single-valued (one value holds at a time: a new one retires the
memory that stated the old one) or multi-valued (values accumulate until a memory is retired or
deleted). The table below is the documented set the offline extractor distils
(recalld.extraction.attributes); names it does not know are single-valued.

Decay (README "Forgetting"): a memory's weight in Search is

    w = rho + (1 - rho) * 2 ** (-age / half_life)      rho = floor + (1 - floor) * importance

where ``age`` is the time from when the fact was last stated or used (``Memory.last_seen``) to
the moment searched (``as_of``, else now), ``half_life`` the longest configured for the memory's
attributes and predicates (else the default), and ``importance`` in 0..1 (0.5 unless set on
Add). A memory's search score is its relevance times ``w``: it never drops below ``rho`` of its
relevance, so old facts rank lower and are still returned.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from recalld.core.settings import DecaySettings
from recalld.kernel.domain import Memory, norm

INF = math.inf


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    category: str
    multi: bool
    half_life_days: float  # of the memories that state it


ATTRIBUTES: Mapping[str, AttributeSpec] = {
    # health
    "allergies": AttributeSpec("health", True, INF),
    "conditions": AttributeSpec("health", True, INF),
    "medications": AttributeSpec("health", True, 365),
    "symptoms": AttributeSpec("health", True, 60),  # a complaint, with its onset or duration when said
    "injuries": AttributeSpec("health", True, 365),
    # diet
    "diet": AttributeSpec("diet", False, 365),
    # routines
    "exercise_routine": AttributeSpec("routines", False, 60),
    "study_routine": AttributeSpec("routines", False, 60),
    "routines": AttributeSpec("routines", True, 90),
    # preferences
    "likes": AttributeSpec("preferences", True, 180),
    "dislikes": AttributeSpec("preferences", True, 180),
    # study
    "school": AttributeSpec("study", False, 730),
    "studies": AttributeSpec("study", True, 365),
    "upcoming_exam": AttributeSpec("study", True, 30),  # a student has several at a time
    "difficulties": AttributeSpec("study", True, 180),
    "mastered": AttributeSpec("study", True, INF),  # knowledge or skills already held: "I already know basic Python"
    # work
    "employer": AttributeSpec("work", False, 730),
    "job_title": AttributeSpec("work", False, 730),
    # family and pets
    "family": AttributeSpec("family", True, INF),
    "pets": AttributeSpec("pets", True, INF),
    # location and person
    "location": AttributeSpec("location", False, 730),
    "age": AttributeSpec("person", False, 365),
    # goals
    "goals": AttributeSpec("goals", True, 180),
    # how the user wants to be answered (instructions to the assistant)
    "response_format": AttributeSpec("instructions", False, INF),
    "response_language": AttributeSpec("instructions", False, INF),
    "response_tone": AttributeSpec("instructions", False, INF),
    "avoid": AttributeSpec("instructions", True, INF),
    "instructions": AttributeSpec("instructions", True, INF),
}
# Predicates whose facts do not fade whatever attribute they carry.
PREDICATE_HALF_LIVES: Mapping[str, float] = {
    "allergic_to": INF,
    "not_allergic_to": INF,
    "has_name": INF,
    "has_birthday": INF,
}


def is_multi(name: str) -> bool:
    spec = ATTRIBUTES.get(name)
    return spec is not None and spec.multi


def half_lives(settings: DecaySettings) -> dict[str, float]:
    """Attribute name or predicate -> half-life in days: the defaults with the configured ones."""
    out = {n: s.half_life_days for n, s in ATTRIBUTES.items()}
    out.update(PREDICATE_HALF_LIVES)
    for name, raw in settings.half_lives.items():
        out[name] = float(raw)  # "inf" parses
    return out


def half_life_days(memory: Memory, table: Mapping[str, float], default: float) -> float:
    named = [table[a.name] for a in memory.attributes if a.name in table]
    named += [table[t.predicate] for t in memory.triples if t.predicate in table]
    return max(named) if named else default


def decay_weight(memory: Memory, at: datetime, table: Mapping[str, float], settings: DecaySettings) -> float:
    """The memory's weight in 0..1 at ``at`` (see the module docstring)."""
    rho = settings.floor + (1.0 - settings.floor) * min(max(memory.importance, 0.0), 1.0)
    h = half_life_days(memory, table, settings.half_life_days)
    age_days = max((at - memory.last_seen).total_seconds(), 0.0) / 86400.0
    if h == INF or rho >= 1.0:
        return 1.0
    if h <= 0:
        return rho
    return rho + (1.0 - rho) * 2.0 ** (-age_days / h)


@dataclass(frozen=True, slots=True)
class ProfileValue:
    """One current value of an attribute with the memories that state it."""

    name: str
    value: str
    category: str
    multi: bool
    memories: tuple[Memory, ...]

    @property
    def valid_from(self) -> datetime | None:
        return min((m.valid_from for m in self.memories if m.valid_from), default=None)


def build_profile(memories: Iterable[Memory]) -> list[ProfileValue]:
    """The attributes the given (valid) memories state: for a single-valued name the value of the
    memory that began to hold last (ties: recorded last), for a multi-valued name every distinct
    value (compared case-insensitively). Ordered by category, name, first statement."""
    by_name: dict[str, dict[str, list[Memory]]] = {}
    for m in sorted(memories, key=lambda m: (m.valid_from or m.reference_time, m.created_at, m.id)):
        for a in m.attributes:
            by_name.setdefault(a.name, {}).setdefault(norm(a.value), []).append(m)
    out: list[ProfileValue] = []
    for name, values in by_name.items():
        spec = ATTRIBUTES.get(name, AttributeSpec("other", False, INF))
        chosen = list(values.items())
        if not spec.multi:
            chosen = [max(chosen, key=lambda kv: max((m.valid_from or m.reference_time, m.created_at) for m in kv[1]))]
        for key, ms in chosen:
            shown = next(a.value for a in ms[-1].attributes if a.name == name and norm(a.value) == key)
            out.append(ProfileValue(name, shown, spec.category, spec.multi, tuple(ms)))
    out.sort(key=lambda v: (v.category, v.name, min(m.reference_time for m in v.memories).timestamp()))
    return out
