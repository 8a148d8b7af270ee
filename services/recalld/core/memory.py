"""The memory pipeline: Add, Get, List, Update, Delete, DeleteAll, History.

Knows the stores only through their protocols and nothing of gRPC. Every
request is validated before anything is written, and every write is one graph
store transaction followed by the vector index sync (see recalld.core.indexing),
so a failed request leaves nothing half-written.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar, cast

import numpy as np

from recalld.core.classify import SlotFallback
from recalld.core.dates import find_and_resolve
from recalld.core.dates import resolve as resolve_time
from recalld.core.fence import ScopeFence
from recalld.core.indexing import Indexer
from recalld.core.profile import ProfileValue, build_profile, is_multi
from recalld.core.reconcile import (
    CESSATION_VERBS,
    Action,
    Candidate,
    Decision,
    change_cue,
    deceased,
    decide,
    is_correction,
    is_single,
    looks_back,
    polarity,
    same_object,
    slot_of,
    slot_predicates,
    variants,
)
from recalld.core.settings import Limits, ReconcileSettings
from recalld.kernel import slots
from recalld.kernel.domain import (
    CURRENT,
    Attribute,
    ChatMessage,
    Episode,
    EventKind,
    Fact,
    HistoryEntry,
    Memory,
    MemoryEvent,
    Metadata,
    MetadataFilter,
    Scope,
    Validity,
    norm,
)
from recalld.kernel.errors import Conflict, InvalidArgument, NotFound, ResourceExhausted
from recalld.kernel.filters import validate_filters
from recalld.kernel.ports import (
    Cursor,
    Embedder,
    EntityGraph,
    Extractor,
    Judge,
    JudgeCase,
    MemoryReads,
    MemoryWrites,
    Relation,
    Retirement,
    VectorHit,
    Vectors,
    VectorStore,
)
from recalld.kernel.requests import AddCommand
from recalld.kernel.times import from_micros, to_micros
from recalld.kernel.validation import validate_memory_id, validate_new_scope, validate_scope

log = logging.getLogger(__name__)
T = TypeVar("T")

_ADD_ATTEMPTS = 3  # an Add whose retirement lost a race is decided again this many times in all


def content_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.casefold().split()).encode()).hexdigest()


def encode_cursor(c: Cursor) -> str:
    """A page token: the keyset position as [created_at in integer microseconds, memory id]."""
    raw = json.dumps([to_micros(c.created_at), c.memory_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        us, mid = json.loads(raw)
        if not isinstance(us, int) or isinstance(us, bool) or not isinstance(mid, str):
            raise TypeError("not [int, str]")
        return Cursor(from_micros(us), mid)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidArgument("page_token is invalid; pass next_page_token from a previous List") from exc


class MemoryStore(MemoryWrites, MemoryReads, EntityGraph, Protocol):
    """The graph store as the Add pipeline uses it: memories read and written, and the entities
    and relations reconciliation compares against."""


class MemoryPipeline:
    def __init__(
        self,
        *,
        graph: MemoryStore,
        vector: VectorStore,
        embedder: Embedder,
        extractor: Extractor,
        indexer: Indexer,
        limits: Limits,
        reconcile: ReconcileSettings,
        session_ttl: timedelta | None = None,
        judge: Judge | None = None,
        fence: ScopeFence | None = None,
    ) -> None:
        """``judge``: decides the facts the rules leave as plain ADDs although similar memories
        exist (LLM-assisted reconciliation); None: the rules alone."""
        self._session_ttl = session_ttl
        self._judge = judge
        self._fence = fence or ScopeFence()
        self._graph = graph
        self._vector = vector
        self._reconcile = reconcile
        self._embedder = embedder
        self._extractor = extractor
        self._indexer = indexer
        self._limits = limits
        self._slots = SlotFallback(embedder, reconcile) if reconcile.slot_fallback else None

    # -- validation ------------------------------------------------------------
    def _check_metadata(self, metadata: Metadata) -> None:
        try:
            size = len(json.dumps(metadata, allow_nan=False).encode())
        except ValueError as exc:
            raise InvalidArgument(f"metadata is not valid JSON: {exc}") from None
        if size > self._limits.max_metadata_bytes:
            raise ResourceExhausted(f"metadata is {size} bytes; the limit is {self._limits.max_metadata_bytes} bytes")

    def _check_messages(self, messages: Sequence[ChatMessage]) -> None:
        if not messages:
            raise InvalidArgument("messages must not be empty")
        if len(messages) > self._limits.max_messages:
            raise ResourceExhausted(f"{len(messages)} messages; the limit is {self._limits.max_messages} per Add")
        for i, m in enumerate(messages):
            if not m.content.strip():
                raise InvalidArgument(f"messages[{i}].content is empty")
            if len(m.content) > self._limits.max_message_chars:
                raise ResourceExhausted(
                    f"messages[{i}].content has {len(m.content)} characters; "
                    f"the limit is {self._limits.max_message_chars}"
                )
            if m.role.lower() not in {"user", "assistant", "system", "tool"}:
                raise InvalidArgument(f"messages[{i}].role {m.role!r} is not one of user, assistant, system, tool")
            if len(m.name) > 256:
                raise InvalidArgument(f"messages[{i}].name is longer than 256 characters")

    # -- Add -------------------------------------------------------------------------
    async def add(self, cmd: AddCommand) -> tuple[str, list[MemoryEvent]]:
        """:meth:`_add` inside the scope's fence (refused while the scope is being erased), after
        the per-user quota."""
        self.check_add(cmd)
        async with self._fence.writing(cmd.scope):
            await self._check_quota(cmd.scope)
            return await self._add(cmd)

    async def _check_quota(self, scope: Scope) -> None:
        limit = self._limits.max_memories_per_user
        if not limit or not scope.user_id:
            return
        held = await self._graph.count_user_memories(scope.user_id)
        if held >= limit:
            raise ResourceExhausted(
                f"limit max_memories_per_user={limit} reached: user {scope.user_id!r} holds {held} current "
                "memories; delete or erase some first (retrying will not help)"
            )

    async def _add(self, cmd: AddCommand) -> tuple[str, list[MemoryEvent]]:
        """Distil ``messages`` into facts and reconcile each with what the scope holds (see
        recalld.core.reconcile). Everything one Add decides is written in one graph-store
        transaction; if a memory it retires changed meanwhile, the Add is decided again.
        ``importance`` (0..1) and ``ttl`` apply to every memory the Add makes; memories of a run
        without a ``ttl`` expire after the session lifetime. ``episode_id``: the id to record the
        Add under (an asynchronous Add's operation id), else a new one."""
        scope, messages, infer = cmd.scope, cmd.messages, cmd.infer
        now = datetime.now(UTC)
        ref = cmd.reference_time or now

        # Most chat turns are one sentence, and a one-sentence message is its own fact: embed it
        # (and look up its neighbours) while spaCy parses, instead of after.
        ahead = _Ahead(
            self._embedder,
            self._vector,
            scope,
            _likely_facts(messages, infer),
            neighbours=self._reconcile.neighbours if infer and self._reconcile.enabled else 0,
        )
        try:
            if infer:
                facts = await self._extractor.extract(messages, default_speaker=scope.speaker, reference_time=ref)
            else:
                facts = [Fact(text=m.content.strip(), speaker=m.name or scope.speaker) for m in messages]
            facts, aliases = await self._resolve_entities(scope, facts)
        except BaseException:
            ahead.cancel()
            raise
        episode = Episode(
            id=cmd.episode_id or str(uuid.uuid4()),
            scope=scope,
            messages=tuple(messages),
            metadata=dict(cmd.metadata or {}),
            reference_time=ref,
            created_at=now,
        )
        return await self._write_episode(
            episode, facts, aliases, ahead, infer=infer, importance=cmd.importance, ttl=cmd.ttl
        )

    async def _write_episode(
        self,
        episode: Episode,
        facts: Sequence[Fact],
        aliases: dict[str, str],
        ahead: _Ahead | None,
        *,
        infer: bool,
        importance: float | None,
        ttl: timedelta | None,
    ) -> tuple[str, list[MemoryEvent]]:
        """Decide and write an episode's facts; if a memory it retires changed meanwhile, decide
        again (the vectors found ahead are used on the first attempt only). Memories of a run
        without a ``ttl`` expire after the session lifetime."""
        if ttl is None and episode.scope.run_id and self._session_ttl is not None:
            ttl = self._session_ttl
        expires_at = episode.created_at + ttl if ttl is not None else None
        for attempt in range(1, _ADD_ATTEMPTS + 1):
            try:
                return episode.id, await self._add_once(
                    episode,
                    facts,
                    aliases,
                    reconcile=infer,
                    ahead=ahead if attempt == 1 else None,
                    importance=0.5 if importance is None else importance,
                    expires_at=expires_at,
                )
            except Conflict:
                if attempt == _ADD_ATTEMPTS:
                    raise
                log.info("add raced with another write (attempt %d); deciding again", attempt)
        raise AssertionError("unreachable")

    def check_add(self, cmd: AddCommand) -> None:
        """Everything an Add checks before it does anything (an asynchronous Add checks it before
        it is recorded)."""
        validate_new_scope(cmd.scope)
        if cmd.scope.exact:
            raise InvalidArgument("scope.exact is a read option; an Add stores into the scope as given")
        self._check_messages(cmd.messages)
        self._check_metadata(dict(cmd.metadata or {}))
        if cmd.importance is not None and not 0.0 <= cmd.importance <= 1.0:
            raise InvalidArgument(f"importance must be between 0 and 1, not {cmd.importance}")
        if cmd.ttl is not None and cmd.ttl <= timedelta(0):
            raise InvalidArgument("ttl must be positive")

    async def _resolve_entities(self, scope: Scope, facts: Sequence[Fact]) -> tuple[list[Fact], dict[str, str]]:
        """Names that are known aliases ("bob's cat" once "my cat Luna" was said) become the
        entity they name; returns the facts and the aliases this Add teaches."""
        taught: dict[str, str] = {}
        for f in facts:
            taught.update(f.aliases)
        names = sorted({x for f in facts for t in f.triples for x in (t.subject, t.object)} - taught.keys())
        known = await self._graph.resolve_aliases(scope, names) if names else {}
        known.update(taught)
        lookup = {norm(k): v for k, v in known.items() if norm(k) != norm(v)}
        if not lookup:
            return list(facts), taught

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
        return out, taught

    async def _add_once(
        self,
        episode: Episode,
        facts: Sequence[Fact],
        aliases: dict[str, str],
        *,
        reconcile: bool,
        ahead: _Ahead | None = None,
        importance: float = 0.5,
        expires_at: datetime | None = None,
    ) -> list[MemoryEvent]:
        scope, now, ref = episode.scope, episode.created_at, episode.reference_time
        actor = _actor(scope)
        # Exact repeats (already current in this scope, or repeated in this call) are NOOPs.
        hashes = [content_hash(f.text) for f in facts]
        known = await self._graph.find_by_hash(scope, hashes)
        pending: list[tuple[Fact, str]] = []
        seen: set[str] = set()
        for fact, h in zip(facts, hashes, strict=True):
            if h not in known and h not in seen:
                seen.add(h)
                pending.append((fact, h))
        texts = [f.text for f, _ in pending]
        early_vectors, early_hits = await ahead.result(texts) if ahead is not None else (None, None)
        vectors = early_vectors if early_vectors is not None else await self._embedder.embed(texts)
        starts = [self._valid_from(f, ref) for f, _ in pending]
        if reconcile and self._reconcile.enabled and pending:
            decisions, current = await self._decide(
                scope, [f for f, _ in pending], vectors, starts, early_hits, episode.reference_time
            )
        else:
            decisions, current = [Decision(Action.ADD, "new_fact") for _ in pending], {}
        if reconcile and self._reconcile.enabled and any(f.attributes for f, _ in pending):
            decisions = await self._decide_attributes(scope, [f for f, _ in pending], decisions, current)

        fresh: list[Memory] = []
        fresh_vectors: list[int] = []
        history: list[HistoryEntry] = []
        events: list[MemoryEvent] = []
        retire: dict[str, Retirement] = {}
        reinforce: dict[str, str] = {h: known[h] for h in dict.fromkeys(hashes) if h in known}
        noop_rules = dict.fromkeys(reinforce.values(), "same_text")
        corrected: list[tuple[Memory, Memory, str]] = []
        for i, ((fact, h), decision, start) in enumerate(zip(pending, decisions, starts, strict=True)):
            if decision.action is Action.NOOP:
                reinforce[h] = decision.target
                noop_rules.setdefault(decision.target, decision.rule)
                continue
            if decision.action is Action.UPDATE:
                old = current[decision.target]
                if not any(old.id == o.id for o, _, _ in corrected):  # one correction per memory and Add
                    corrected.append(await self._rewritten(old, decision.corrected_text, now, scope, "correction"))
                continue
            for target, text in decision.trims:  # a list keeps the items nobody retracted
                old = current[target]
                if not any(old.id == o.id for o, _, _ in corrected):
                    corrected.append(await self._rewritten(old, text, now, scope, f"{decision.rule}:partial"))
            m = Memory(
                id=str(uuid.uuid4()),
                text=fact.text,
                scope=scope,
                metadata=episode.metadata,
                created_at=now,
                updated_at=now,
                reference_time=ref,
                episode_id=episode.id,
                triples=fact.triples,
                content_hash=h,
                valid_from=start,
                valid_to=decision.past_until,
                retired_at=now if decision.past_until is not None else None,
                retired_by_rule=decision.rule if decision.past_until is not None else "",
                importance=importance,
                expires_at=expires_at,
                attributes=fact.attributes,
                speaker=fact.speaker,
            )
            fresh.append(m)
            fresh_vectors.append(i)
            history.append(HistoryEntry(m.id, EventKind.ADD, "", m.text, now, actor, decision.rule, episode.id,
                                        new_triples=m.triples))  # fmt: skip
            for target in decision.retire:
                if target not in retire:
                    old = current[target]
                    retire[target] = Retirement(target, old.version, max(start, old.valid_from or ref), m.id,
                                                decision.retire_rule)  # fmt: skip
            events.append(MemoryEvent(m, EventKind.ADD, decision.rule, decision.retire))
        for memory_id, rule in noop_rules.items():
            history.append(HistoryEntry(memory_id, EventKind.NOOP, "", "", now, actor, rule, episode.id))
        retired = {
            i: replace(current[i], valid_to=r.valid_to, retired_at=now, superseded_by=r.superseded_by,
                       retired_by_rule=r.rule, version=current[i].version + 1)
            for i, r in retire.items()
        }  # fmt: skip
        for r in retire.values():
            m = retired[r.memory_id]
            history.append(HistoryEntry(m.id, EventKind.INVALIDATE, m.text, m.text, now, actor, r.rule, episode.id,
                                        old_triples=m.triples, new_triples=m.triples))  # fmt: skip
            events.append(MemoryEvent(m, EventKind.INVALIDATE, r.rule, (r.superseded_by,)))

        # Corrections first (each a compare-and-set): a conflict there leaves nothing written.
        for old, new, rule in corrected:
            await self._graph.replace_memory(
                new,
                HistoryEntry(old.id, EventKind.UPDATE, old.text, new.text, now, actor, rule, episode.id,
                             old.triples, new.triples),
                expected_version=old.version,
            )  # fmt: skip
            events.append(MemoryEvent(new, EventKind.UPDATE, rule))
        write = self._graph.add_memories(
            episode,
            fresh,
            history,
            retire=list(retire.values()),
            reinforce=list(dict.fromkeys(reinforce.values())),
            aliases=aliases,
        )
        # Retired and corrected memories need their vectors again (new validity, new text):
        # embedded while the graph store commits, then indexed with the new ones in one write.
        changed = [*retired.values(), *(new for _, new, _ in corrected)]
        if changed:
            changed_vectors, _ = await asyncio.gather(self._embedder.embed([m.text for m in changed]), write)
        else:
            await write
            changed_vectors = vectors[:0]
        # durable from here on
        await self._sync_quietly([*fresh, *changed], np.concatenate([vectors[fresh_vectors], changed_vectors]))
        if noop_rules:
            confirmed = await self._graph.get_memories(list(noop_rules), scope)
            events += [MemoryEvent(confirmed[i], EventKind.NOOP, r) for i, r in noop_rules.items() if i in confirmed]
        return events

    async def _rewritten(
        self, old: Memory, text: str, now: datetime, scope: Scope, rule: str
    ) -> tuple[Memory, Memory, str]:
        """``old`` with a new text (a correction, or a list without its retracted items), its
        relations and attributes extracted again."""
        facts_now = await self._extractor.extract([ChatMessage("user", text)], default_speaker=scope.speaker)
        new = replace(
            old,
            text=text,
            triples=tuple(t for f in facts_now for t in f.triples),
            attributes=tuple(dict.fromkeys(a for f in facts_now for a in f.attributes)),
            updated_at=now,
            content_hash=content_hash(text),
            version=old.version + 1,
        )
        return old, new, rule

    async def _decide_attributes(
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

    def _valid_from(self, fact: Fact, reference: datetime) -> datetime:
        """When the fact began to hold: the start of the past time it names ("last month", "three
        weeks ago", "in 2019"), else the reference time. Times the text does not itself place in
        the past ("on Tuesday", "3 December", "next week") leave the reference time."""
        phrase = fact.hints.get("time", "")
        span = resolve_time(phrase, reference) if phrase else None
        span = span or find_and_resolve(fact.text, reference)
        return span.start if span is not None and span.past else reference

    async def _decide(
        self,
        scope: Scope,
        facts: Sequence[Fact],
        vectors: Vectors,
        starts: Sequence[datetime],
        early_hits: list[list[VectorHit]] | None,
        said_at: datetime,
    ) -> tuple[list[Decision], dict[str, Memory]]:
        """The reconciliation decision of each fact, and the current memories they were made on.

        The rules need the relation candidates (same subject), the recent memories for "I meant"
        corrections, and only those vector neighbours close enough to be a paraphrase: the
        others are never read (measured: reading every neighbour cost 2 ms per Add)."""
        settings = self._reconcile
        subjects = sorted({norm(t.subject) for f in facts for t in f.triples})
        learned = await self._slots.learn(t for f in facts for t in f.triples) if self._slots else {}
        # Only relations a rule could match: the same slot (any polarity), or, for "I gave up X",
        # the same object, or what the kind X covers ("caffeine": coffee, tea ...), held by any verb.
        predicates = {p for f in facts for t in f.triples for p in slot_predicates(t, settings, learned)}
        ending = [t for f in facts for t in f.triples if t.predicate in CESSATION_VERBS]
        objects = sorted({t.object for t in ending} | {k for t in ending for k in slots.KINDS.get(norm(t.object), ())})
        if any(slots.KINDS.get(norm(t.object)) for t in ending):
            predicates |= slots.HABIT_VERBS
        # "Rosie passed away": who had Rosie (the speaker's has_pet), and Rosie's single-valued states
        dead = sorted({norm(x) for f in facts for x in deceased(f)})
        states = {p for c in settings.single_valued for p in variants(c, settings, learned)} if dead else set()
        if dead:
            subjects = sorted({*subjects, norm(scope.speaker)})
            objects = sorted({*objects, *dead})
            predicates |= states
        corrections = [is_correction(f) for f in facts]

        no_relations: list[Relation] = []
        no_recent: list[Memory] = []
        # The vector index and the graph store run on their own threads: ask both at once.
        neighbours, relations, recent = await asyncio.gather(
            # Paraphrases are the only thing asked of the vector side; a fact written in the
            # last moment may be missed (it is then added, never lost), so do not wait for it.
            _value(early_hits)
            if early_hits is not None
            else self._vector.search_many(vectors, scope, settings.neighbours, validity=CURRENT, may_lag=True),
            self._graph.find_relations(scope, subjects, sorted(predicates), objects)
            if subjects
            else _value(no_relations),
            self._graph.list_memories(scope, [], 10, None, include_retired=False)
            if any(corrections)
            else _value(no_recent),
        )
        # Each fact's candidates are the relations a rule could use on IT (not every relation the
        # batch's predicates found for its subject: with thousands of first-person facts that was
        # the whole user, read and compared per fact): the same slot where the whole slot matters
        # (a single-valued predicate, or a correction), else the same slot and object; for "I gave
        # up X" the subject's relations to X.
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
        for fact, correction in zip(facts, corrections, strict=True):
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
                if subject in dead and obj == slots.DECEASED:
                    wanted |= {i for (_, o_), ids in to_any.items() if o_ == subject for i in ids}
                    wanted |= {r.memory_id for p in states for r in slot.get((subject, p), ())}
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
        # A single-valued fact may meet its slot in a memory whose predicate only the fallback or a
        # favourite's category places there: its close vector neighbours are read too.
        close = {h.id for hits, least in zip(neighbours, reach, strict=True) for h in hits if h.score >= least}
        wanted_ids = close.union(*per_fact)
        current = await self._graph.get_memories(sorted(wanted_ids), scope, validity=CURRENT) if wanted_ids else {}
        current.update((m.id, m) for m in recent)
        decisions: list[Decision] = []
        considered: list[list[Candidate]] = []
        for fact, hits, start, correction, wanted in zip(facts, neighbours, starts, corrections, per_fact, strict=True):
            similarity = {h.id: h.score for h in hits}
            wanted |= set(similarity)
            if correction:
                wanted |= {m.id for m in recent}
            candidates = [Candidate(current[i], similarity.get(i)) for i in sorted(wanted) if i in current]
            decisions.append(decide(fact, candidates, settings, start, said_at, learned))
            considered.append(candidates)
        if self._judge is not None:
            decisions = await self._consult(self._judge, facts, decisions, considered)
        return decisions, current

    async def _consult(
        self, judge: Judge, facts: Sequence[Fact], decisions: list[Decision], considered: Sequence[Sequence[Candidate]]
    ) -> list[Decision]:
        """Ask the judge about the facts no rule settled (plain ADD) that have close candidates
        (cosine >= judge_similarity, the closest judge_candidates), all in one call."""
        s = self._reconcile
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

    async def _sync_quietly(self, memories: Sequence[Memory], vectors: Vectors | None = None) -> None:
        """Index right away; on failure the write stays pending for the reconciler."""
        try:
            await self._indexer.sync(memories, vectors)
        except Exception:
            log.exception("vector index sync failed for %d memories; left for the reconciler", len(memories))

    # -- reads -----------------------------------------------------------------------
    async def get(self, scope: Scope, memory_id: str) -> Memory:
        validate_scope(scope)
        validate_memory_id(memory_id)
        found = await self._graph.get_memories([memory_id], scope)
        if memory_id not in found or found[memory_id].expired(datetime.now(UTC)):
            raise NotFound(f"memory {memory_id} not found in this scope")
        return found[memory_id]

    async def list_memories(
        self,
        scope: Scope,
        *,
        page_size: int = 100,
        page_token: str = "",
        filters: Sequence[MetadataFilter] = (),
        include_retired: bool = True,
    ) -> tuple[list[Memory], str]:
        validate_scope(scope)
        validate_filters(filters)
        if page_size == 0:
            page_size = 100
        if not 1 <= page_size <= 1000:
            raise InvalidArgument("page_size must be between 1 and 1000")
        after = decode_cursor(page_token) if page_token else None
        rows = await self._graph.list_memories(scope, filters, page_size + 1, after, include_retired=include_retired)
        page = rows[:page_size]
        token = encode_cursor(Cursor(page[-1].created_at, page[-1].id)) if len(rows) > page_size else ""
        now = datetime.now(UTC)  # expired and not pruned yet: already gone for readers
        return [m for m in page if not m.expired(now)], token

    async def profile(self, views: Sequence[Scope], validity: Validity = CURRENT) -> list[ProfileValue]:
        """The attributes the memories visible through ``views`` state, valid per ``validity``
        (recalld.core.profile.build_profile)."""
        now = datetime.now(UTC)
        found: dict[str, Memory] = {}
        for view in views:
            for m in await self._graph.attributed_memories(view, validity):
                if not m.expired(now):
                    found[m.id] = m
        return build_profile(found.values())

    async def mark_used(self, scope: Scope, memory_ids: Sequence[str], at: datetime | None = None) -> int:
        """The client used these memories (e.g. acted on Search hits): their decay restarts."""
        validate_scope(scope)
        if not memory_ids:
            raise InvalidArgument("memory_ids must not be empty")
        if len(memory_ids) > 1000:
            raise InvalidArgument("at most 1000 memory_ids per call")
        for i in memory_ids:
            validate_memory_id(i)
        return await self._graph.touch_memories(memory_ids, scope, at or datetime.now(UTC))

    async def prune_expired(self, now: datetime | None = None, batch: int = 500) -> int:
        """Delete the memories whose TTL ran out, like a Delete (history entry with rule
        "expired", relations and vector dropped). Returns how many were deleted."""
        now = now or datetime.now(UTC)
        deleted = 0
        while ids := await self._graph.expired_memories(now, batch):
            done = await self._graph.delete_memories(ids, at=now, actor="system", rule="expired")
            await self._drop_quietly(done)
            deleted += len(done)
            if len(ids) < batch:
                break
        if deleted:
            log.info("pruned %d expired memories", deleted)
        return deleted

    async def history(self, scope: Scope, memory_id: str) -> list[HistoryEntry]:
        validate_scope(scope)
        validate_memory_id(memory_id)
        entries = await self._graph.history(memory_id, scope)
        if entries is None:
            raise NotFound(f"memory {memory_id} not found in this scope")
        return entries

    # -- Update / Delete ---------------------------------------------------------------
    async def update(
        self,
        scope: Scope,
        memory_id: str,
        text: str,
        metadata: Metadata | None = None,
        *,
        expected_version: int = 0,
        expires_at: datetime | None = None,
        clear_expiry: bool = False,
        importance: float | None = None,
    ) -> Memory:
        """:meth:`_update` inside the scope's fence (refused while the scope is being erased)."""
        async with self._fence.writing(scope):
            return await self._update(
                scope, memory_id, text, metadata, expected_version=expected_version, expires_at=expires_at,
                clear_expiry=clear_expiry, importance=importance,
            )  # fmt: skip

    async def _update(
        self,
        scope: Scope,
        memory_id: str,
        text: str,
        metadata: Metadata | None = None,
        *,
        expected_version: int = 0,
        expires_at: datetime | None = None,
        clear_expiry: bool = False,
        importance: float | None = None,
    ) -> Memory:
        """Replace a memory's text (and metadata), its expiry or its importance. The write is a
        compare-and-set on the version this call read (or ``expected_version`` when the caller
        gives one): a concurrent Update makes it fail with Conflict, a concurrent Delete with
        NotFound, and nothing changes. An empty ``text`` keeps the text (and relations) when
        another field changes."""
        validate_scope(scope)
        validate_memory_id(memory_id)
        text = text.strip()
        lifecycle = expires_at is not None or clear_expiry or importance is not None
        if expires_at is not None and clear_expiry:
            raise InvalidArgument("set expires_at or clear_expiry, not both")
        if importance is not None and not 0.0 <= importance <= 1.0:
            raise InvalidArgument(f"importance must be between 0 and 1, not {importance}")
        if not text and not lifecycle:
            raise InvalidArgument("text must not be empty")
        if len(text) > self._limits.max_text_chars:
            raise ResourceExhausted(f"text has {len(text)} characters; the limit is {self._limits.max_text_chars}")
        if expected_version < 0:
            raise InvalidArgument("expected_version must not be negative (0: the version the server reads)")
        if metadata is not None:
            self._check_metadata(metadata)
        old = await self.get(scope, memory_id)
        _check_expected(old, expected_version)
        now = datetime.now(UTC)
        new = replace(
            old,
            metadata=dict(metadata) if metadata is not None else old.metadata,
            updated_at=now,
            version=old.version + 1,
            expires_at=None if clear_expiry else (expires_at or old.expires_at),
            importance=old.importance if importance is None else importance,
        )
        vectors = None  # same text: the indexer re-embeds it for the new version
        if text:
            facts = await self._extractor.extract([ChatMessage("user", text)], default_speaker=old.scope.speaker)
            new = replace(
                new,
                text=text,
                triples=tuple(t for f in facts for t in f.triples),
                attributes=tuple(dict.fromkeys(a for f in facts for a in f.attributes)),
                content_hash=content_hash(text),
            )
            vectors = await self._embedder.embed([text])
        rule = "api" if text else "lifecycle"
        entry = HistoryEntry(memory_id, EventKind.UPDATE, old.text, new.text, now, _actor(scope), rule, "",
                             old.triples, new.triples)  # fmt: skip
        await self._graph.replace_memory(new, entry, expected_version=old.version)
        await self._sync_quietly([new], vectors)
        return new

    async def delete(self, scope: Scope, memory_id: str, *, expected_version: int = 0) -> None:
        """Tombstone one memory. Without ``expected_version`` it deletes whatever version is
        current when the store's transaction runs; with it, only that version (else Conflict)."""
        if expected_version < 0:
            raise InvalidArgument("expected_version must not be negative (0: whatever version is current)")
        old = await self.get(scope, memory_id)
        _check_expected(old, expected_version)
        expected = {memory_id: expected_version} if expected_version else None
        done = await self._graph.delete_memories(
            [memory_id], at=datetime.now(UTC), expected_versions=expected, actor=_actor(scope)
        )
        if memory_id not in done:
            # Deleted or changed between our read and the store's transaction.
            current = await self._graph.get_memories([memory_id], scope)
            if memory_id in current:
                _check_expected(current[memory_id], expected_version)
            raise NotFound(f"memory {memory_id} not found in this scope")
        await self._drop_quietly(done)

    async def delete_all(self, scope: Scope) -> int:
        validate_scope(scope)
        ids = await self._graph.find_scope_ids(scope)
        deleted = 0
        for i in range(0, len(ids), 1000):
            done = await self._graph.delete_memories(ids[i : i + 1000], at=datetime.now(UTC), actor=_actor(scope))
            await self._drop_quietly(done)
            deleted += len(done)
        return deleted

    async def _drop_quietly(self, done: dict[str, int]) -> None:
        try:
            await self._indexer.drop(done)
        except Exception:
            log.exception("vector delete failed for %d memories; left for the reconciler", len(done))


async def _value(value: T) -> T:
    """An awaitable of a value already known (a branch of ``asyncio.gather`` with nothing to do)."""
    return value


_SENTENCE_BREAK = re.compile(r"[.!?;]\s+\S")


def _likely_facts(messages: Sequence[ChatMessage], infer: bool) -> list[str]:
    """The texts the facts of these messages will probably have: every message when stored as
    it is; otherwise the extracted one-sentence messages."""
    if not infer:
        return [m.content.strip() for m in messages]
    return [
        text
        for m in messages
        if (m.name or m.role.lower() == "user") and not _SENTENCE_BREAK.search(text := m.content.strip())
    ]


class _Ahead:
    """Embedding (and the reconciliation neighbour search) of the texts the facts will probably
    have, started before extraction. :meth:`result` hands them over when they are exactly the
    pending facts' texts; otherwise the Add embeds and searches as usual."""

    def __init__(
        self, embedder: Embedder, vector: VectorStore, scope: Scope, texts: list[str], *, neighbours: int
    ) -> None:
        """``neighbours``: how many to look up per text (0: embed only)."""
        self._texts = list(dict.fromkeys(texts))
        self._task: asyncio.Task[tuple[Vectors, list[list[VectorHit]] | None]] | None = None
        if self._texts:
            self._task = asyncio.ensure_future(self._run(embedder, vector, scope, neighbours))

    async def _run(
        self, embedder: Embedder, vector: VectorStore, scope: Scope, neighbours: int
    ) -> tuple[Vectors, list[list[VectorHit]] | None]:
        vectors = await embedder.embed(self._texts)
        if not neighbours:
            return vectors, None
        return vectors, await vector.search_many(vectors, scope, neighbours, validity=CURRENT, may_lag=True)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def result(self, texts: list[str]) -> tuple[Vectors | None, list[list[VectorHit]] | None]:
        if self._task is None:
            return None, None
        if texts != self._texts:
            self.cancel()
            return None, None
        return await self._task


def _states_other(memory: Memory, attribute: Attribute) -> bool:
    """The memory states another value of the attribute (and not this one)."""
    values = {norm(a.value) for a in memory.attributes if a.name == attribute.name}
    return bool(values) and norm(attribute.value) not in values


def _actor(scope: Scope) -> str:
    """Who a change is recorded as made by: the request's agent, else "system"."""
    return scope.agent_id or "system"


def _check_expected(memory: Memory, expected_version: int) -> None:
    if expected_version and memory.version != expected_version:
        raise Conflict(
            f"memory {memory.id} is at version {memory.version}, not the expected version {expected_version}; "
            "read it again and retry"
        )


# -- bulk import (recalld.core.importer) ----------------------------------------------------------------
# Appended: the importer batches extraction, embedding and vector indexing across items, then
# writes each item through the same decision and write code as an Add (MemoryPipeline._add_once).


class _Ready(_Ahead):
    """Vectors computed before the Add (the importer embeds a whole batch in one call)."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:  # not super().__init__: it starts a task
        self._texts = []
        self._task = None
        self._vectors = vectors

    async def result(self, texts: list[str]) -> tuple[Vectors | None, list[list[VectorHit]] | None]:
        if not texts or any(t not in self._vectors for t in texts):
            return None, None
        return np.stack([self._vectors[t] for t in texts]), None


class PendingIndex:
    """The vector side of a batch of imported items, written once per batch: the memories each
    item commits are kept here (latest version per id) until :meth:`flush` indexes them all in
    one upsert; meanwhile reconciliation searches see them as a sequence of Adds would
    (brute-force cosine over the pending ones, merged with the store's hits)."""

    def __init__(self, indexer: Indexer, vector: VectorStore) -> None:
        self._indexer = indexer
        self._vector = vector
        self._pending: dict[str, tuple[Memory, np.ndarray]] = {}

    # the Indexer face (only sync is used on the Add path)
    async def sync(self, memories: Sequence[Memory], vectors: Vectors | None = None) -> None:
        if vectors is None:
            vectors = await self._indexer._embedder.embed([m.text for m in memories])
        for m, v in zip(memories, vectors, strict=True):
            self._pending[m.id] = (m, np.asarray(v, dtype=np.float32))

    # the VectorStore face (only search_many is used on the Add path)
    async def search_many(
        self,
        vectors: Vectors | Sequence[Sequence[float]],
        scope: Scope,
        limit: int,
        validity: Validity = CURRENT,
        *,
        may_lag: bool = False,
    ) -> list[list[VectorHit]]:
        found = await self._vector.search_many(vectors, scope, limit, validity, may_lag=may_lag)
        mine = [
            (m, v)
            for m, v in self._pending.values()
            if m.current and all(getattr(m.scope, k) == val for k, val in scope.items())
        ]
        if not mine:
            return found
        ids = [m.id for m, _ in mine]
        matrix = np.stack([v for _, v in mine])
        scores = np.asarray(vectors, dtype=np.float32) @ matrix.T
        out: list[list[VectorHit]] = []
        for hits, row in zip(found, scores, strict=True):
            # the pending version of a memory wins over the store's older one
            merged = {h.id: h for h in hits if h.id not in self._pending}
            merged.update((i, VectorHit(i, float(s))) for i, s in zip(ids, row, strict=True))
            out.append(sorted(merged.values(), key=lambda h: -h.score)[:limit])
        return out

    def __getattr__(self, name: str) -> object:
        return getattr(self._vector, name)

    async def flush(self) -> int:
        """Index every pending memory (one vector upsert, one mark); failures are left to the
        reconciler like any Add's. Returns how many were written."""
        if not self._pending:
            return 0
        memories = [m for m, _ in self._pending.values()]
        vectors = np.stack([v for _, v in self._pending.values()])
        self._pending = {}
        try:
            await self._indexer.sync(memories, vectors)
        except Exception:
            log.exception("vector index sync failed for %d imported memories; left for the reconciler", len(memories))
        return len(memories)


def _batched(pipeline: MemoryPipeline) -> tuple[MemoryPipeline, PendingIndex]:
    twin = copy.copy(pipeline)
    pending = PendingIndex(pipeline._indexer, pipeline._vector)
    twin._indexer = cast(Indexer, pending)
    twin._vector = cast(VectorStore, pending)
    return twin, pending


class ImportParts:
    """What the importer needs of a pipeline, without reaching into it."""

    def __init__(self, pipeline: MemoryPipeline) -> None:
        self._p = pipeline

    def check(self, cmd: AddCommand) -> None:
        self._p.check_add(cmd)

    async def check_quota(self, scope: Scope) -> None:
        await self._p._check_quota(scope)

    async def existing(self, episode_ids: Sequence[str]) -> set[str]:
        found = await asyncio.gather(*(self._p._graph.episode_exists(i) for i in episode_ids))
        return {i for i, yes in zip(episode_ids, found, strict=True) if yes}

    async def extract_many(self, requests: Sequence[tuple[Sequence[ChatMessage], str, datetime]]) -> list[list[Fact]]:
        """Facts of each (messages, default speaker, reference time), as :meth:`Extractor.extract`
        gives them one call at a time; one batched pass when the extractor has ``extract_many``."""
        extractor = self._p._extractor
        many = getattr(extractor, "extract_many", None)
        if many is not None:
            return cast(list[list[Fact]], await many([(m, s) for m, s, _ in requests]))
        return list(
            await asyncio.gather(*(extractor.extract(m, default_speaker=s, reference_time=r) for m, s, r in requests))
        )

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return await self._p._embedder.embed(texts)

    def batch(self) -> tuple[MemoryPipeline, PendingIndex]:
        """A twin of the pipeline whose vector writes wait in a :class:`PendingIndex` (flush it)."""
        return _batched(self._p)


async def add_extracted(
    pipeline: MemoryPipeline,
    scope: Scope,
    messages: Sequence[ChatMessage],
    facts: Sequence[Fact],
    vectors: dict[str, np.ndarray],
    *,
    metadata: Metadata | None,
    reference_time: datetime | None,
    infer: bool,
    importance: float | None,
    ttl: timedelta | None,
    episode_id: str,
) -> tuple[str, list[MemoryEvent]]:
    """:meth:`MemoryPipeline._add` of facts already extracted (and texts already embedded): the
    same episode, decisions and writes, inside the scope's fence. Checks and quota are the
    caller's (the importer checks each item when it arrives and the quota once per batch)."""
    p = pipeline
    async with p._fence.writing(scope):
        now = datetime.now(UTC)
        resolved, aliases = await p._resolve_entities(scope, facts)
        episode = Episode(id=episode_id, scope=scope, messages=tuple(messages), metadata=dict(metadata or {}),
                          reference_time=reference_time or now, created_at=now)  # fmt: skip
        return await p._write_episode(
            episode, resolved, aliases, _Ready(vectors), infer=infer, importance=importance, ttl=ttl
        )
