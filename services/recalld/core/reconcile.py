"""Reconciliation: what a new fact does to what the scope already holds. Pure and deterministic.

Each new fact is compared with its candidates: the scope's current memories that are its vector
neighbours, and those with a relation on the same subject. The rules, in the order they are tried
(the first that fires decides; the rule's name travels with the event and into history):

1. ``same_text`` (NOOP): the scope already holds this exact text (case and spacing aside); it is
   checked by content hash before this module runs.
2. ``correction`` (UPDATE): the fact is an explicit correction ("Actually Luna is a Persian, not a
   Siamese", "Sorry, I meant Tuesday"). "Actually" alone marks a correction of a state, not a
   change: "Actually I moved to Paris" is a move (rule 5), the old city was true until then.
   The target is the current memory with a relation of the same subject and the same (or an
   equivalent) predicate, preferring the one whose old value the correction names ("not a
   Siamese"), then the nearest neighbour; for "I meant X" without a relation, the most recent
   memory holding a value of X's kind (a weekday, a month, a number) gets X in its place. The
   corrected memory keeps its id; its history keeps the old text. Without a target the fact is
   added (``correction_without_target``).
3. ``paraphrase`` (NOOP): a neighbour at cosine similarity >= ``noop_similarity`` (0.90 by
   default; MiniLM puts paraphrases of one short fact at 0.90-0.97 and facts that differ in one
   value, "I live in Berlin" / "I live in Paris", at 0.75-0.89) that says nothing different:
   the new fact names no entity, number or negation the neighbour lacks, and none of its relations
   gives a single-valued predicate another value. It reinforces the neighbour instead of adding.
4. ``cessation`` (ADD + INVALIDATE): negation or cessation retires the positive fact: "I stopped
   taking ibuprofen" (``stop_take``), "I'm no longer vegetarian" / "not allergic to latex any
   more" (``not_`` predicates) retire current memories with the same subject, the positive
   predicate (or an equivalent) and the same object. The reverse, ``contradiction``: a positive
   fact retires a current negation of itself ("I'm allergic to latex" after "I'm not ..."). The
   new fact is added: that something stopped is itself worth remembering.
5. ``single_valued:<predicate>`` (ADD + INVALIDATE): a relation whose canonical predicate holds
   one value at a time (``ReconcileSettings.single_valued``: lives_in, works_at, works_as,
   has_age, has_name, married_to, ...) gets a new object: the current memories holding another
   object for the same subject are retired. When the stored fact was said later than the new
   one (an older conversation imported late), the new fact is added as past truth instead
   (``single_valued_past``): its own validity ends where the stored one begins.
6. ``new_fact`` (ADD) otherwise.

Predicates compare after :func:`canonical` (recalld.core.relation_slots): the configured
equivalences (``move_to`` -> ``lives_in``, ``work_for`` -> ``works_at`` ...), applied after
stripping ``not_``, the cessation prefixes ``stop_``/``quit_`` and the inception prefixes
``start_``/``begin_`` ("I started working for Apple" is ``works_at`` Apple from now on). A
cessation verb with a bare object (``quit``, ``give_up``, ``stop``, ``drop``, ``cut_out``: "I gave
up aspirin") ends every positive relation of the subject to that object.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from recalld.core.relation_slots import (
    CESSATION_VERBS,
    NEGATION,
    bare,
    head_word,
    is_single,
    polarity,
    same_object,
    same_slot,
    slot_of,
    wildcard_match,
)
from recalld.core.settings import ReconcileSettings
from recalld.kernel import slots
from recalld.kernel.domain import Fact, Memory, Triple, norm

# Explicit corrections: "I meant ...", "correction: ...", "X, not Y", "not Y but X".
_CORRECTION = re.compile(
    r"^\s*(?:correction|to correct myself|no wait)\b|\bi meant\b|"
    r",\s*(?:not|rather than|instead of)\s+(?:a|an|the|on|in|at)?\s*[\w'-]+[.!?]*\s*$|^\s*not\b[^,]*\bbut\b",
    re.IGNORECASE,
)
# "Actually ..." corrects a state ("Actually Luna is a Persian") but not a change ("Actually I
# moved to Paris": Berlin was true, and now is not).
_ACTUALLY = re.compile(r"^\s*(?:actually|wait|sorry|oops)\b", re.IGNORECASE)
_CHANGE = ("move_", "relocate_", "start_", "join", "marry", "switch_", "quit_", "stop_", "become", "get_", "leave")
_CUE = re.compile(r"^\s*(?:actually|correction|sorry|oops|no wait|wait)\s*[,:;-]?\s*", re.IGNORECASE)
_I_MEANT = re.compile(r"\bI meant\s+(?:to say\s+)?(?:on\s+|in\s+|at\s+)?(?P<value>[^.,;!?]+)", re.IGNORECASE)
_OWNER = re.compile(r"(?:'s|\u2019s|s')$")
_NUMBER = re.compile(r"\b\d+(?:[.,:]\d+)*\b")
_NEGATIVE = re.compile(r"\b(?:not|no longer|never|n't|no more|any ?more|stopped|quit)\b", re.IGNORECASE)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december",
)  # fmt: skip


class Action(enum.Enum):
    ADD = "add"
    NOOP = "noop"
    UPDATE = "update"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A current memory of the scope the fact is compared with; ``similarity`` is the cosine to
    the new fact when the vector search found it (else None)."""

    memory: Memory
    similarity: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    rule: str
    target: str = ""  # NOOP: the memory reinforced; UPDATE: the memory corrected
    corrected_text: str = ""  # UPDATE: the memory's new text
    retire: tuple[str, ...] = ()  # ADD: memories whose validity ends (INVALIDATE)
    retire_rule: str = ""
    past_until: datetime | None = None  # ADD: the new fact is past truth, valid until then
    # ADD: memories that keep the items of a list nobody retracted ("allergic to A, B and C", then
    # "no longer allergic to B"): (memory id, its text without the retracted items)
    trims: tuple[tuple[str, str], ...] = ()
    details: Mapping[str, str] = field(default_factory=dict)


def correction_strength(fact: Fact) -> int:
    """2: an explicit correction ("I meant", "X, not Y"); 1: a hedge that may correct a
    single-valued fact ("Actually, ...", "Sorry, ..."), never a change ("Actually I moved");
    0: none."""
    if _CORRECTION.search(fact.text):
        return 2
    if fact.hints.get("correction") == "true" or _ACTUALLY.search(fact.text):
        return 0 if any(t.predicate.startswith(_CHANGE) for t in fact.triples) else 1
    return 0


def is_correction(fact: Fact) -> bool:
    return correction_strength(fact) > 0


def strip_cue(text: str) -> str:
    """The statement without a leading correction cue ("Actually, ...")."""
    rest = _CUE.sub("", text, count=1).strip()
    return rest[:1].upper() + rest[1:] if rest else text


def decide(
    fact: Fact,
    candidates: Sequence[Candidate],
    settings: ReconcileSettings,
    valid_from: datetime,
    said_at: datetime | None = None,
    learned: Mapping[str, str] | None = None,
) -> Decision:
    """What ``fact`` (valid from ``valid_from``, said at ``said_at``, default: then) does, given
    the scope's current ``candidates``; ``learned``: the classes the fallback found for
    predicates the table does not list (recalld.kernel.slots)."""
    learned = learned or {}
    strength = correction_strength(fact)
    if strength:
        corrected = _correction(fact, candidates, settings, learned, strong=strength == 2)
        if corrected is not None:
            return corrected
    tried = _in_order(fact, candidates, settings, learned, valid_from, said_at or valid_from)
    return next((d for d in tried if d is not None), Decision(Action.ADD, "new_fact"))


def _in_order(
    fact: Fact,
    candidates: Sequence[Candidate],
    settings: ReconcileSettings,
    learned: Mapping[str, str],
    valid_from: datetime,
    said_at: datetime,
) -> Iterator[Decision | None]:
    """The rules after a correction, each tried only when the ones before it decided nothing:
    paraphrase, cessation, single value, death, "fine again", a change cue."""
    yield _paraphrase(fact, candidates, settings, learned)
    yield _cessation(fact, candidates, settings, learned)
    yield _single_valued(fact, candidates, settings, learned, valid_from, said_at)
    for rule in (_deceased, _restored, _changed):
        yield rule(fact, candidates, settings, learned)


def _phrases(words: Sequence[str]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b")


_STRONG = _phrases(slots.REPLACING_STRONG)
_WEAK = _phrases(slots.REPLACING_WEAK)
_ADDING = _phrases(slots.ADDING)
_AGAIN = re.compile(r"\bagain\b", re.IGNORECASE)


# Sentence ends, not after a title ("Mr. Ferreira's homeroom" is one sentence).
_SENTENCE_END = re.compile(r"(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bProf)(?<=[.!?])\s+")


def _cue(sentence: str) -> int:
    t = sentence.casefold()
    if t.rstrip().endswith("?"):
        return 0  # "What's new with you?" asks, it does not say
    if _STRONG.search(t):
        return 2
    return 0 if _ADDING.search(t) or not _WEAK.search(t) else 1


def change_cue(text: str, about: str = "") -> int:
    """2: the statement says it replaces something ("instead", "switched to", "the only"); 1: it
    may ("now", "these days", "my old one"); 0: it does not, or it says it adds ("also", "too").
    Read in the sentences that name ``about`` (a triple's object), else in every sentence: a
    message of several sentences ("Since we last spoke, I took my kids to a park. What's new
    with you?") changes only what the sentence with the cue is about."""
    sentences = [x for x in _SENTENCE_END.split(text) if x.strip()] or [text]
    named = [x for x in sentences if about and about.casefold() in x.casefold()]
    cue = max(_cue(x) for x in named or sentences)
    # A weak cue in a message of several sentences colours a story ("Now, I'm aiming to turn my
    # passion into a business. I'm determined ..."): only a statement of its own is a change.
    return 0 if cue == 1 and len(sentences) > 1 else cue


def looks_back(fact: Fact) -> bool:
    """Whether ``fact`` may change what is held beyond its slot (a change cue, or "X is fine
    again"): its close vector neighbours are then candidates too."""
    return change_cue(fact.text) > 0 or bool(_AGAIN.search(fact.text)) or bool(deceased(fact))


# -- the rules ----------------------------------------------------------------------------------


def _correction(
    fact: Fact,
    candidates: Sequence[Candidate],
    settings: ReconcileSettings,
    learned: Mapping[str, str],
    *,
    strong: bool,
) -> Decision | None:
    """An explicit (``strong``) correction targets any fact of the same slot, a hedged one only a
    single-valued fact; None when a hedged one finds nothing (the other rules then apply)."""
    text = fact.text.casefold()
    best: tuple[tuple[int, float], Candidate] | None = None
    for c in candidates:
        for new in fact.triples:
            if not polarity(new.predicate):
                continue
            if not strong and not is_single(slot_of(new, settings, learned), settings):
                continue
            for old in c.memory.triples:
                if same_slot(new, old, settings, learned, c.similarity) and norm(old.object) != norm(new.object):
                    named = int(bool(re.search(rf"\b{re.escape(old.object.casefold())}\b", text)))
                    key = (named, c.similarity or 0.0)
                    if best is None or key > best[0]:
                        best = (key, c)
    if best is not None:
        return Decision(Action.UPDATE, "correction", target=best[1].memory.id, corrected_text=strip_cue(fact.text))
    meant = _I_MEANT.search(fact.text)
    if meant:
        value = meant.group("value").strip()
        kind = _kind(value)
        if kind is not None:
            recent = sorted(candidates, key=lambda c: c.memory.created_at, reverse=True)
            for c in recent:
                old_value = _find_kind(c.memory.text, kind)
                if old_value is not None and old_value.casefold() != value.casefold():
                    fixed = re.sub(rf"\b{re.escape(old_value)}\b", value, c.memory.text, count=1)
                    return Decision(Action.UPDATE, "correction", target=c.memory.id, corrected_text=fixed)
    return Decision(Action.ADD, "correction_without_target") if strong else None


def _kind(value: str) -> str | None:
    v = value.casefold().strip()
    if v in _WEEKDAYS:
        return "weekday"
    if v in _MONTHS:
        return "month"
    if _NUMBER.fullmatch(v):
        return "number"
    return None


def _find_kind(text: str, kind: str) -> str | None:
    if kind == "number":
        m = _NUMBER.search(text)
        return m.group(0) if m else None
    words = _WEEKDAYS if kind == "weekday" else _MONTHS
    m = re.search(r"\b(" + "|".join(words) + r")\b", text, re.IGNORECASE)
    return m.group(1) if m else None


def _paraphrase(
    fact: Fact, candidates: Sequence[Candidate], settings: ReconcileSettings, learned: Mapping[str, str]
) -> Decision | None:
    best: Candidate | None = None
    for c in candidates:
        if c.similarity is None or c.similarity < settings.noop_similarity:
            continue
        if best is not None and (best.similarity or 0.0) >= c.similarity:
            continue
        if _says_more(fact, c.memory, settings, learned):
            continue
        best = c
    if best is None:
        return None
    return Decision(Action.NOOP, "paraphrase", target=best.memory.id)


def _says_more(fact: Fact, old: Memory, settings: ReconcileSettings, learned: Mapping[str, str]) -> bool:
    """Whether ``fact`` names something ``old`` does not: an entity, a number, a negation, or a
    different value of a single-valued relation."""
    old_text = old.text.casefold()
    old_names = {norm(x) for t in old.triples for x in (t.subject, t.object)}
    for t in fact.triples:
        for name in (t.subject, t.object):
            n = norm(name)
            if n not in old_names and n not in old_text:
                return True
        for o in old.triples:
            if same_slot(t, o, settings, learned) and norm(t.object) != norm(o.object):
                return True
            if same_slot(t, o, settings, learned) and polarity(t.predicate) != polarity(o.predicate):
                return True
    if set(_NUMBER.findall(fact.text)) - set(_NUMBER.findall(old.text)):
        return True
    return bool(_NEGATIVE.search(fact.text)) != bool(_NEGATIVE.search(old.text))


def _cessation(
    fact: Fact, candidates: Sequence[Candidate], settings: ReconcileSettings, learned: Mapping[str, str]
) -> Decision | None:
    retired: list[str] = []
    ended: dict[str, list[Triple]] = {}  # memory id -> its relations this fact ends
    rule = ""
    for new in fact.triples:
        positive = polarity(new.predicate)
        bare = new.predicate in CESSATION_VERBS
        for c in candidates:
            for old in c.memory.triples:
                if bare:  # "I gave up caffeine": any positive relation of the subject to it, or to a kind of it
                    if not (same_object(new.object, old.object) or slots.covers(norm(new.object), norm(old.object))):
                        continue
                    if norm(old.subject) == norm(new.subject) and polarity(old.predicate):
                        ended.setdefault(c.memory.id, []).append(old)
                        if c.memory.id not in retired:
                            retired.append(c.memory.id)
                            rule = "cessation"
                    continue
                if not same_object(new.object, old.object) or not same_slot(new, old, settings, learned):
                    continue
                if polarity(old.predicate) == positive:
                    continue
                ended.setdefault(c.memory.id, []).append(old)
                if c.memory.id not in retired:
                    retired.append(c.memory.id)
                    rule = "contradiction" if positive else "cessation"
    if not retired:
        return None
    trims: list[tuple[str, str]] = []
    if rule == "cessation":  # one item of a list ends, the others stay: the memory keeps them
        memories = {c.memory.id: c.memory for c in candidates}
        for memory_id in list(retired):
            kept = _trimmed(memories[memory_id], ended[memory_id], settings, learned)
            if kept is not None:
                retired.remove(memory_id)
                trims.append((memory_id, kept))
    if not retired and not trims:
        return None
    return Decision(Action.ADD, rule, retire=tuple(retired), retire_rule=rule, trims=tuple(trims))


_LIST_GLUE = re.compile(r"^(?:\s|,|;|&|\band\b|\bor\b|\bplus\b|\bas well as\b|\balso\b)*$", re.IGNORECASE)


def _trimmed(
    memory: Memory, ended: Sequence[Triple], settings: ReconcileSettings, learned: Mapping[str, str]
) -> str | None:
    """The memory's text without the ended items of its list, when the memory also holds items of
    the same relation that did not end ("I'm allergic to A, B and C" without B: "I'm allergic to A
    and C"); None when nothing else holds (the memory is retired) or the list cannot be found in
    the text as items and separators only (then too: never a garbled text)."""
    gone = {norm(t.object) for t in ended}
    kept = [
        t
        for t in memory.triples
        if polarity(t.predicate) == polarity(ended[0].predicate)
        and norm(t.object) not in gone
        and any(same_slot(t, e, settings, learned) for e in ended)
    ]
    if not kept:
        return None
    ended = [e for e in ended if any(same_slot(t, e, settings, learned) for t in kept)]  # the list's items only
    spans: dict[str, tuple[int, int]] = {}
    for name in [*(t.object for t in ended), *(t.object for t in kept)]:
        m = re.search(rf"(?<!\w){re.escape(name)}\w*", memory.text, re.IGNORECASE)
        if m is None:
            return None
        spans[norm(name)] = m.span()
    ordered = sorted(spans.items(), key=lambda kv: kv[1][0])
    start, end = ordered[0][1][0], ordered[-1][1][1]
    at = start
    for _, (a, b) in ordered:
        if a < at or not _LIST_GLUE.match(memory.text[at:a]):
            return None  # overlapping names, or words between the items: not a plain list
        at = b
    left = [memory.text[a:b] for key, (a, b) in ordered if key not in gone]
    joined = left[0] if len(left) == 1 else ", ".join(left[:-1]) + " and " + left[-1]
    return memory.text[:start] + joined + memory.text[end:]


def _single_valued(
    fact: Fact,
    candidates: Sequence[Candidate],
    settings: ReconcileSettings,
    learned: Mapping[str, str],
    valid_from: datetime,
    said_at: datetime,
) -> Decision | None:
    retired: list[str] = []
    rule = ""
    past_until: datetime | None = None
    for new in fact.triples:
        pred = slot_of(new, settings, learned)
        if not is_single(pred, settings) or not polarity(new.predicate):
            continue
        for c in candidates:
            for old in c.memory.triples:
                if not polarity(old.predicate) or not same_slot(new, old, settings, learned, c.similarity):
                    continue
                if norm(old.object) == norm(new.object) or c.memory.id in retired:
                    continue
                # Older news (a conversation from before the stored one, imported late) is past
                # truth; a later statement supersedes, whatever time it names.
                if c.memory.reference_time > said_at:
                    old_from = c.memory.valid_from or c.memory.reference_time
                    until = max(old_from, valid_from)
                    past_until = until if past_until is None else min(past_until, until)
                    continue
                retired.append(c.memory.id)
                rule = f"single_valued:{pred}"
    if retired:
        return Decision(Action.ADD, rule, retire=tuple(retired), retire_rule=rule, past_until=past_until)
    if past_until is not None:
        return Decision(Action.ADD, "single_valued_past", past_until=past_until)
    return None


def deceased(fact: Fact) -> list[str]:
    """Who ``fact`` says died ("Rosie passed away")."""
    return [t.subject for t in fact.triples if bare(t.predicate) == "is" and norm(t.object) == slots.DECEASED]


def _deceased(
    fact: Fact, candidates: Sequence[Candidate], settings: ReconcileSettings, learned: Mapping[str, str]
) -> Decision | None:
    """``deceased`` (ADD + INVALIDATE): "Rosie passed away" ends "we have a beagle named Rosie"
    (Rosie had by anyone) and "my dad lives in Leeds" (the one's single-valued states)."""
    gone = {norm(x) for x in deceased(fact)}
    if not gone:
        return None
    retired = [
        c.memory.id
        for c in candidates
        if any(
            polarity(t.predicate)
            and (
                (norm(t.object) in gone and bare(t.predicate).startswith("has_"))
                or (norm(t.subject) in gone and is_single(slot_of(t, settings, learned), settings))
            )
            for t in c.memory.triples
        )
    ]
    if not retired:
        return None
    return Decision(Action.ADD, "deceased", retire=tuple(retired), retire_rule="deceased")


def _restored(
    fact: Fact, candidates: Sequence[Candidate], settings: ReconcileSettings, learned: Mapping[str, str]
) -> Decision | None:
    """``restored`` (ADD + INVALIDATE, or a trim of a list): "Garlic seems fine for me again" ends
    "I can't eat onions, garlic or peppers" for garlic alone."""
    if not _AGAIN.search(fact.text):
        return None
    things = set()
    for t in fact.triples:
        if polarity(t.predicate):
            things.add(norm(t.subject) if norm(t.object) in slots.RESTORED else norm(t.object))
    retired: list[str] = []
    trims: list[tuple[str, str]] = []
    for c in candidates:
        ended = [
            old
            for old in c.memory.triples
            if old.predicate.startswith(NEGATION) and any(same_object(old.object, x) for x in things)
        ]
        if not ended:
            continue
        kept = _trimmed(c.memory, ended, settings, learned)
        if kept is None:
            retired.append(c.memory.id)
        else:
            trims.append((c.memory.id, kept))
    if not retired and not trims:
        return None
    return Decision(Action.ADD, "restored", retire=tuple(retired), retire_rule="restored", trims=tuple(trims))


def _changed(
    fact: Fact, candidates: Sequence[Candidate], settings: ReconcileSettings, learned: Mapping[str, str]
) -> Decision | None:
    """``changed`` (ADD + INVALIDATE): a statement that marks a change (:func:`change_cue`) replaces
    the subject's current fact of the same slot, or of the same kind of thing ("a low-carb diet",
    then "a Mediterranean diet instead"; "Mrs. Grant's homeroom", then "switched to Mr. Ferreira's
    homeroom"), or the holder of the same role ("my chemistry tutor", then "sessions with Tom
    instead"). A weak cue replaces only close facts (cosine >= ``judge_similarity``) of relations
    that are not possessions, identities or medical lists (recalld.kernel.slots.KEPT_ON_WEAK)."""
    if not change_cue(fact.text):
        return None
    retired: list[str] = []
    for new in fact.triples:
        cue = change_cue(fact.text, new.object)
        if not cue or not polarity(new.predicate) or new.object_type in ("date", "time"):
            continue
        a = slot_of(new, settings, learned)
        for c in candidates:
            if c.memory.id in retired:
                continue
            close = c.similarity is not None and c.similarity >= settings.judge_similarity
            for old in c.memory.triples:
                if not polarity(old.predicate) or norm(old.subject) != norm(new.subject):
                    continue
                if _restates(old.object, new.object) or old.object_type in ("date", "time"):
                    continue
                if _replaces(new, old, a, slot_of(old, settings, learned), strong=cue == 2, close=close):
                    retired.append(c.memory.id)
                    break
    if not retired:
        return None
    return Decision(Action.ADD, "changed", retire=tuple(retired), retire_rule="changed")


def _restates(a: str, b: str) -> bool:
    """One names the other: "coffee" and "three coffees", not "a low-carb diet" and "a
    Mediterranean diet" (of one kind, and different)."""
    x, y = [w for w in norm(a).split() if not _OWNER.search(w)], [w for w in norm(b).split() if not _OWNER.search(w)]
    if not x or not y:
        return x == y  # "my passion" and "my dancing passion" are one thing
    short, long = sorted((x, y), key=len)
    return [head_word(w) for w in short] == [head_word(w) for w in long[len(long) - len(short) :]]


def _replaces(new: Triple, old: Triple, a: str, b: str, *, strong: bool, close: bool) -> bool:
    if a.startswith("role:") and (a == b or wildcard_match(a, b, "role:")):
        return strong or close  # "a new coach at my club" far from "my swim coach": maybe another coach
    said = {bare(new.predicate), bare(old.predicate)}
    # possessions ("has_"), identities and medical lists accumulate on a weak cue
    weak_ok = close and not said & slots.KEPT_ON_WEAK and not any(p.startswith("has_") for p in said)
    if a == b:
        return strong or weak_ok
    x, y = norm(new.object).split(), norm(old.object).split()
    same_kind = (
        len(x) > 1
        and len(y) > 1
        and head_word(x[-1]) == head_word(y[-1])
        and head_word(x[-1]) not in slots.GENERIC_HEADS
    )
    return same_kind and (strong or weak_ok)
