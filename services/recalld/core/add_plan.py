"""Planning an Add: from the facts, what reconciliation decided and the memories it decided on, to
everything the Add will write. Pure: no store, no model, no clock (the episode carries the time),
so a test can plan an Add from values alone.

The I/O is around it (recalld.core.memory): before, the exact repeats are looked up, the facts
embedded and the reconciliation candidates read and decided on (recalld.core.deciding); after,
the writer (recalld.core.add_writer) extracts the rewritten texts, applies the plan in one graph
transaction, compare-and-set on every version the plan was made on, and indexes it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from recalld.core.dates import find_and_resolve
from recalld.core.dates import resolve as resolve_time
from recalld.core.reconcile import Action, Decision
from recalld.kernel.domain import Episode, EventKind, Fact, HistoryEntry, Memory, MemoryEvent, Scope, norm
from recalld.kernel.ports import Retirement


def content_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.casefold().split()).encode()).hexdigest()


def actor(scope: Scope) -> str:
    """Who a change is recorded as made by: the request's agent, else "system"."""
    return scope.agent_id or "system"


def valid_from(fact: Fact, reference: datetime) -> datetime:
    """When the fact began to hold: the start of the past time it names ("last month", "three
    weeks ago", "in 2019"), else the reference time. Times the text does not itself place in
    the past ("on Tuesday", "3 December", "next week") leave the reference time."""
    phrase = fact.hints.get("time", "")
    span = resolve_time(phrase, reference) if phrase else None
    span = span or find_and_resolve(fact.text, reference)
    return span.start if span is not None and span.past else reference


def pending_facts(facts: Sequence[Fact], hashes: Sequence[str], known: Mapping[str, str]) -> list[tuple[Fact, str]]:
    """The facts to decide on, with their content hashes: not already current in the scope
    (``known``: hash -> memory id) and each text once."""
    pending: list[tuple[Fact, str]] = []
    seen: set[str] = set()
    for fact, h in zip(facts, hashes, strict=True):
        if h not in known and h not in seen:
            seen.add(h)
            pending.append((fact, h))
    return pending


def canonical(facts: Sequence[Fact], known: Mapping[str, str]) -> list[Fact]:
    """The facts with every name that is a known alias (``known``: alias -> entity name) replaced
    by the entity it names."""
    lookup = {norm(k): v for k, v in known.items() if norm(k) != norm(v)}
    if not lookup:
        return list(facts)

    def canon(name: str) -> str:
        return lookup.get(norm(name), name)

    out: list[Fact] = []
    for f in facts:
        # The relation that names a description ("bob's dog" has_name Joy) stays as it is:
        # rewritten it would say Joy -> Joy.
        triples = (
            r if norm(r.subject) != norm(r.object) else t
            for t in f.triples
            for r in [replace(t, subject=canon(t.subject), object=canon(t.object))]
        )
        out.append(replace(f, triples=tuple(dict.fromkeys(triples))))
    return out


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A current memory to be given a new text: a correction ("I meant ..."), or a list without
    the items the user retracted. Its relations are extracted again when the plan is written."""

    old: Memory
    text: str
    rule: str


@dataclass(slots=True)
class AddPlan:
    """Everything one Add writes, in the order it is written and reported."""

    episode: Episode
    fresh: list[Memory] = field(default_factory=list)  # the memories the Add makes
    fresh_rows: list[int] = field(default_factory=list)  # each one's row among the pending facts' vectors
    history: list[HistoryEntry] = field(default_factory=list)  # ADD, NOOP and INVALIDATE entries
    events: list[MemoryEvent] = field(default_factory=list)  # ADD and INVALIDATE events
    retire: list[Retirement] = field(default_factory=list)
    retired: list[Memory] = field(default_factory=list)  # the retired memories as they will be stored
    reinforce: list[str] = field(default_factory=list)  # memories stated again
    noop_rules: dict[str, str] = field(default_factory=dict)  # reinforced memory -> the rule that said so
    rewrites: list[Rewrite] = field(default_factory=list)  # each applied before the transaction


def plan_add(
    episode: Episode,
    hashes: Sequence[str],
    known: Mapping[str, str],
    pending: Sequence[tuple[Fact, str]],
    decisions: Sequence[Decision],
    starts: Sequence[datetime],
    current: Mapping[str, Memory],
    *,
    importance: float = 0.5,
    expires_at: datetime | None = None,
) -> AddPlan:
    """The plan of an Add: ``hashes`` of every fact it carries and ``known`` (hash -> id) those
    already current (reinforced); ``pending`` the others with their ``decisions`` and ``starts``
    (valid_from); ``current``: the memories the decisions name, as they were read."""
    scope, now, ref = episode.scope, episode.created_at, episode.reference_time
    by = actor(scope)
    plan = AddPlan(episode)
    retire: dict[str, Retirement] = {}
    reinforce: dict[str, str] = {h: known[h] for h in dict.fromkeys(hashes) if h in known}
    noop_rules = dict.fromkeys(reinforce.values(), "same_text")
    for i, ((fact, h), decision, start) in enumerate(zip(pending, decisions, starts, strict=True)):
        if decision.action is Action.NOOP:
            reinforce[h] = decision.target
            noop_rules.setdefault(decision.target, decision.rule)
            continue
        if decision.action is Action.UPDATE:
            _rewrite(plan, current[decision.target], decision.corrected_text, "correction")
            continue
        for target, text in decision.trims:  # a list keeps the items nobody retracted
            _rewrite(plan, current[target], text, f"{decision.rule}:partial")
        m = _fresh_memory(episode, fact, h, decision, start, importance, expires_at)
        plan.fresh.append(m)
        plan.fresh_rows.append(i)
        plan.history.append(HistoryEntry(m.id, EventKind.ADD, "", m.text, now, by, decision.rule, episode.id,
                                         new_triples=m.triples))  # fmt: skip
        for target in decision.retire:
            if target not in retire:
                old = current[target]
                retire[target] = Retirement(target, old.version, max(start, old.valid_from or ref), m.id,
                                            decision.retire_rule)  # fmt: skip
        plan.events.append(MemoryEvent(m, EventKind.ADD, decision.rule, decision.retire))
    for memory_id, rule in noop_rules.items():
        plan.history.append(HistoryEntry(memory_id, EventKind.NOOP, "", "", now, by, rule, episode.id))
    for r in retire.values():
        m = replace(current[r.memory_id], valid_to=r.valid_to, retired_at=now, superseded_by=r.superseded_by,
                    retired_by_rule=r.rule, version=current[r.memory_id].version + 1)  # fmt: skip
        plan.retired.append(m)
        plan.history.append(HistoryEntry(m.id, EventKind.INVALIDATE, m.text, m.text, now, by, r.rule, episode.id,
                                         old_triples=m.triples, new_triples=m.triples))  # fmt: skip
        plan.events.append(MemoryEvent(m, EventKind.INVALIDATE, r.rule, (r.superseded_by,)))
    plan.retire = list(retire.values())
    plan.reinforce = list(dict.fromkeys(reinforce.values()))
    plan.noop_rules = noop_rules
    return plan


def _rewrite(plan: AddPlan, old: Memory, text: str, rule: str) -> None:
    if not any(old.id == r.old.id for r in plan.rewrites):  # one rewrite per memory and Add
        plan.rewrites.append(Rewrite(old, text, rule))


def _fresh_memory(
    episode: Episode,
    fact: Fact,
    h: str,
    decision: Decision,
    start: datetime,
    importance: float,
    expires_at: datetime | None,
) -> Memory:
    now = episode.created_at
    past = decision.past_until is not None
    return Memory(
        id=str(uuid.uuid4()),
        text=fact.text,
        scope=episode.scope,
        metadata=episode.metadata,
        created_at=now,
        updated_at=now,
        reference_time=episode.reference_time,
        episode_id=episode.id,
        triples=fact.triples,
        content_hash=h,
        valid_from=start,
        valid_to=decision.past_until,
        retired_at=now if past else None,
        retired_by_rule=decision.rule if past else "",
        importance=importance,
        expires_at=expires_at,
        attributes=fact.attributes,
        speaker=fact.speaker,
    )
