"""Deciding an Add's facts: read the memories each fact could change, then apply the rules
(recalld.core.reconcile.decide, pure), the single-valued attributes, and the judge for what the
rules leave open.

Only the candidates a rule could use are read: the relations of the same slot (or object, for
"I gave up X"), the recent memories for "I meant" corrections, and those vector neighbours close
enough to be a paraphrase (measured: reading every neighbour cost 2 ms per Add).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, TypeVar

from recalld.core.classify import SlotFallback
from recalld.core.profile import is_multi
from recalld.core.reconcile import (
    Action,
    Candidate,
    Decision,
    change_cue,
    deceased,
    decide,
    is_correction,
    looks_back,
)
from recalld.core.relation_slots import (
    CESSATION_VERBS,
    is_single,
    polarity,
    same_object,
    slot_of,
    slot_predicates,
    variants,
)
from recalld.core.settings import ReconcileSettings
from recalld.kernel import slots
from recalld.kernel.domain import CURRENT, Attribute, Fact, Memory, Scope, norm
from recalld.kernel.ports import (
    EntityGraph,
    Judge,
    JudgeCase,
    MemoryReads,
    NeighbourSearch,
    Relation,
    VectorHit,
    Vectors,
)

T = TypeVar("T")


class CandidateStore(MemoryReads, EntityGraph, Protocol):
    """The graph store as reconciliation reads it."""


@dataclass(slots=True)
class _Wanted:
    """What the facts of one Add ask of the stores (``_Reader.wanted``)."""

    subjects: list[str]
    predicates: set[str]
    objects: list[str]
    dead: list[str]
    states: set[str]
    corrections: list[bool]


class Reconciler:
    """The decisions of an Add's facts, and the current memories they were made on."""

    def __init__(
        self,
        *,
        graph: CandidateStore,
        neighbours: NeighbourSearch,
        settings: ReconcileSettings,
        slots: SlotFallback | None,
        judge: Judge | None,
    ) -> None:
        self._graph = graph
        self._neighbours = neighbours
        self._s = settings
        self._slots = slots
        self._judge = judge

    async def decide(
        self,
        scope: Scope,
        facts: Sequence[Fact],
        vectors: Vectors,
        starts: Sequence[datetime],
        early_hits: list[list[VectorHit]] | None,
        said_at: datetime,
    ) -> tuple[list[Decision], dict[str, Memory]]:
        learned = await self._slots.learn(t for f in facts for t in f.triples) if self._slots else {}
        want = _wanted(scope, facts, self._s, learned)
        no_relations: list[Relation] = []
        no_recent: list[Memory] = []
        # The vector index and the graph store run on their own threads: ask both at once.
        neighbours, relations, recent = await asyncio.gather(
            # Paraphrases are the only thing asked of the vector side; a fact written in the
            # last moment may be missed (it is then added, never lost), so do not wait for it.
            _value(early_hits)
            if early_hits is not None
            else self._neighbours.search_many(vectors, scope, self._s.neighbours, validity=CURRENT, may_lag=True),
            self._graph.find_relations(scope, want.subjects, sorted(want.predicates), want.objects)
            if want.subjects
            else _value(no_relations),
            self._graph.list_memories(scope, [], 10, None, include_retired=False)
            if any(want.corrections)
            else _value(no_recent),
        )
        per_fact, reach = self._per_fact(facts, want, relations, learned)
        # A single-valued fact may meet its slot in a memory whose predicate only the fallback or a
        # favourite's category places there: its close vector neighbours are read too.
        close = {h.id for hits, least in zip(neighbours, reach, strict=True) for h in hits if h.score >= least}
        wanted_ids = close.union(*per_fact)
        current = await self._graph.get_memories(sorted(wanted_ids), scope, validity=CURRENT) if wanted_ids else {}
        current.update((m.id, m) for m in recent)
        decisions: list[Decision] = []
        considered: list[list[Candidate]] = []
        for fact, hits, start, correction, wanted in zip(
            facts, neighbours, starts, want.corrections, per_fact, strict=True
        ):
            similarity = {h.id: h.score for h in hits}
            wanted |= set(similarity)
            if correction:
                wanted |= {m.id for m in recent}
            candidates = [Candidate(current[i], similarity.get(i)) for i in sorted(wanted) if i in current]
            decisions.append(decide(fact, candidates, self._s, start, said_at, learned))
            considered.append(candidates)
        if self._judge is not None:
            decisions = await self._consult(self._judge, facts, decisions, considered)
        return decisions, current

    def _per_fact(
        self, facts: Sequence[Fact], want: _Wanted, relations: Sequence[Relation], learned: Mapping[str, str]
    ) -> tuple[list[set[str]], list[float]]:
        """Each fact's candidates are the relations a rule could use on IT (not every relation the
        batch's predicates found for its subject: with thousands of first-person facts that was the
        whole user, read and compared per fact): the same slot where the whole slot matters (a
        single-valued predicate, or a correction), else the same slot and object; for "I gave up
        X" the subject's relations to X. Also how close a vector neighbour must be to be read."""
        settings = self._s
        slot: dict[tuple[str, str], list[Relation]] = {}
        to_object: dict[tuple[str, str], set[str]] = {}
        to_any: dict[tuple[str, str], set[str]] = {}
        for r in relations:
            slot.setdefault((norm(r.subject), r.predicate), []).append(r)
            to_object.setdefault((norm(r.subject), norm(r.object)), set()).add(r.memory_id)
            if polarity(r.predicate):
                to_any.setdefault((norm(r.subject), norm(r.object)), set()).add(r.memory_id)
        per_fact: list[set[str]] = []
        reach: list[float] = []
        for fact, correction in zip(facts, want.corrections, strict=True):
            wanted: set[str] = set()
            single = False
            for t in fact.triples:
                subject, obj = norm(t.subject), norm(t.object)
                whole_slot = correction or is_single(slot_of(t, settings, learned), settings)
                single = single or whole_slot
                for p in slot_predicates(t, settings, learned):
                    wanted |= {
                        r.memory_id for r in slot.get((subject, p), ()) if whole_slot or same_object(r.object, obj)
                    }
                if subject in want.dead and obj == slots.DECEASED:
                    wanted |= {i for (_, o_), ids in to_any.items() if o_ == subject for i in ids}
                    wanted |= {r.memory_id for p in want.states for r in slot.get((subject, p), ())}
                if t.predicate in CESSATION_VERBS:
                    wanted |= to_object.get((subject, obj), set())
                    for (s_, o_), ids in to_any.items():
                        if s_ == subject and slots.covers(obj, o_):
                            wanted |= ids
            per_fact.append(wanted)
            # How close a neighbour must be to be read: a paraphrase's closeness; a slot's or a
            # change's (a weak cue: "now"); any neighbour, for a statement that says it replaces.
            cue = change_cue(fact.text)
            wide = single or looks_back(fact) or self._judge is not None  # a judge sees what the rules leave open
            reach.append(0.0 if cue == 2 else settings.judge_similarity if wide else settings.noop_similarity)
        return per_fact, reach

    async def decide_attributes(
        self, scope: Scope, facts: Sequence[Fact], decisions: list[Decision], current: dict[str, Memory]
    ) -> list[Decision]:
        """Single-valued attributes follow the reconciliation rules: a fact added with a new value
        of one ("exercise_routine = swim every Sunday") retires the current memories stating
        another value of it (rule ``attribute:<name>``). Multi-valued ones accumulate."""
        single = {a.name for f in facts for a in f.attributes if not is_multi(a.name)}
        if not single:
            return decisions
        holders = [m for m in await self._graph.attributed_memories(scope, CURRENT, sorted(single)) if m.current]
        out: list[Decision] = []
        for fact, decision in zip(facts, decisions, strict=True):
            if decision.action is not Action.ADD or decision.past_until is not None:
                out.append(decision)
                continue
            retire = list(decision.retire)
            rule = decision.retire_rule
            for a in fact.attributes:
                if is_multi(a.name):
                    continue
                for m in holders:
                    if m.id in retire or not _states_other(m, a):
                        continue
                    retire.append(m.id)
                    current.setdefault(m.id, m)
                    rule = rule or f"attribute:{a.name}"
            out.append(replace(decision, retire=tuple(retire), retire_rule=rule) if retire else decision)
        return out

    async def _consult(
        self, judge: Judge, facts: Sequence[Fact], decisions: list[Decision], considered: Sequence[Sequence[Candidate]]
    ) -> list[Decision]:
        """Ask the judge about the facts no rule settled (plain ADD) that have close candidates
        (cosine >= judge_similarity, the closest judge_candidates), all in one call."""
        s = self._s
        open_cases: list[tuple[int, list[Candidate]]] = []
        for i, (d, cands) in enumerate(zip(decisions, considered, strict=True)):
            if d.action is not Action.ADD or d.rule != "new_fact":
                continue
            close = sorted(
                (c for c in cands if c.similarity is not None and c.similarity >= s.judge_similarity),
                key=lambda c: -(c.similarity or 0.0),
            )[: s.judge_candidates]
            if close:
                open_cases.append((i, close))
        if not open_cases:
            return decisions
        verdicts = await judge.judge(
            [JudgeCase(facts[i].text, tuple(c.memory.text for c in cs)) for i, cs in open_cases]
        )
        out = list(decisions)
        for (i, cs), v in zip(open_cases, verdicts, strict=True):
            if v is None or v.action == "add" or v.candidate is None or not 0 <= v.candidate < len(cs):
                continue
            target = cs[v.candidate].memory.id
            if v.action == "noop":
                out[i] = Decision(Action.NOOP, "llm:noop", target=target)
            elif v.action == "update" and v.text:
                out[i] = Decision(Action.UPDATE, "llm:update", target=target, corrected_text=v.text)
            elif v.action == "invalidate":
                out[i] = Decision(Action.ADD, "llm:invalidate", retire=(target,), retire_rule="llm:invalidate")
        return out


def _wanted(scope: Scope, facts: Sequence[Fact], settings: ReconcileSettings, learned: Mapping[str, str]) -> _Wanted:
    """The subjects, predicates and objects whose relations a rule could match: the same slot (any
    polarity), or, for "I gave up X", the same object, or what the kind X covers ("caffeine":
    coffee, tea ...), held by any verb; for "Rosie passed away", who had Rosie (the speaker's
    has_pet) and Rosie's single-valued states."""
    subjects = sorted({norm(t.subject) for f in facts for t in f.triples})
    predicates = {p for f in facts for t in f.triples for p in slot_predicates(t, settings, learned)}
    ending = [t for f in facts for t in f.triples if t.predicate in CESSATION_VERBS]
    objects = sorted({t.object for t in ending} | {k for t in ending for k in slots.KINDS.get(norm(t.object), ())})
    if any(slots.KINDS.get(norm(t.object)) for t in ending):
        predicates |= slots.HABIT_VERBS
    dead = sorted({norm(x) for f in facts for x in deceased(f)})
    states = {p for c in settings.single_valued for p in variants(c, settings, learned)} if dead else set()
    if dead:
        subjects = sorted({*subjects, norm(scope.speaker)})
        objects = sorted({*objects, *dead})
        predicates |= states
    return _Wanted(subjects, predicates, objects, dead, states, [is_correction(f) for f in facts])


def _states_other(memory: Memory, attribute: Attribute) -> bool:
    """The memory states another value of the attribute (and not this one)."""
    values = {norm(a.value) for a in memory.attributes if a.name == attribute.name}
    return bool(values) and norm(attribute.value) not in values


async def _value(value: T) -> T:
    """An awaitable of a value already known (a branch of ``asyncio.gather`` with nothing to do)."""
    return value
