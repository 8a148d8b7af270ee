"""Relation slots: which relations the reconciliation rules (recalld.core.reconcile) compare.

Predicates compare after :func:`canonical`: the configured equivalences (``move_to`` ->
``lives_in``, ``work_for`` -> ``works_at`` ...), applied after stripping ``not_``, the cessation
prefixes ``stop_``/``quit_`` and the inception prefixes ``start_``/``begin_``. A relation's slot
(:func:`slot_of`) is its class (recalld.kernel.slots): what competes with it; :func:`is_single`
says whether the slot holds one value at a time, :func:`polarity` whether the relation is negated
or ceased, and :func:`same_slot` / :func:`same_object` compare two relations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from recalld.core.settings import ReconcileSettings
from recalld.kernel import slots
from recalld.kernel.domain import Triple, norm

NEGATION = "not_"
CESSATION = ("stop_", "quit_")
INCEPTION = ("start_", "begin_")  # "I started working for Apple": working for Apple holds from now
# A cessation verb with a bare object ends whatever relation the subject had to it: "I gave up
# aspirin" retires "I take aspirin daily", "I quit metformin" retires "I take metformin".
CESSATION_VERBS = slots.ENDING_VERBS
# "use jen@proton.me from now on", "reach me at ...": an address of one's own
_CONTACT_VERBS = frozenset({"use", "is", "is_a", "be", "change_to", "switch_to", "update_to", "reach_at", "contact_at"})
_EMAIL_WORDS = frozenset({"email", "e", "mail", "address", "change", "to", "is", "new", "current"})
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def bare(predicate: str) -> str:
    """``predicate`` without ``not_``, the cessation and the inception prefixes."""
    p = predicate
    if p.startswith(NEGATION):
        p = p[len(NEGATION) :]
    for prefix in (*CESSATION, *INCEPTION):
        if p.startswith(prefix):
            p = p[len(prefix) :]
    return p


def canonical(predicate: str, settings: ReconcileSettings, learned: Mapping[str, str] | None = None) -> str:
    """The predicate a relation is compared by: without ``not_``/``stop_``/``quit_``, mapped
    through the relation classes (recalld.kernel.slots, ``settings.equivalents``), else through
    what the fallback ``learned`` for predicates the table does not list."""
    p = bare(predicate)
    mapped = settings.equivalents.get(p)
    if mapped is None and learned:
        mapped = learned.get(p)
    return mapped or p


def slot_of(triple: Triple, settings: ReconcileSettings, learned: Mapping[str, str] | None = None) -> str:
    """The class of ``triple``'s relation: :func:`canonical`, and the forms that state a class only
    with a proper name as object ("I joined Accenture" is ``works_at``), and favourites per
    category (``favourite:food``)."""
    c = canonical(triple.predicate, settings, learned)
    if (c.startswith("has_") or c in _CONTACT_VERBS) and _EMAIL.fullmatch(triple.object.strip()):
        # "my work address changed to dana@lumen.com": the work email; "my email": any of them
        return "email:" + "_".join(w for w in c[4:].split("_") if w not in _EMAIL_WORDS)
    if c in slots.BY_NAME:
        return c  # a class of its own ("has_phone"), whatever the recognizer took the value for
    if triple.object_type == "date":
        return _date_slot(triple, c)
    kind = slots.exclusive(bare(triple.predicate), norm(triple.object))
    if kind is not None:
        return kind  # "I'm pescatarian", then "I've gone plant-based": one diet at a time
    if c != bare(triple.predicate):
        return c
    named = slots.named_class(c)
    if named is not None and _is_name(triple.object, triple.object_type):
        return named
    role = slots.role(c)
    if role is not None and triple.object[:1].isupper() and "'s " not in triple.object:
        return f"role:{role}"  # (alice, has_swim_coach, Hannah Lee): one swim coach at a time
    return slots.favourite(c) or c


def _date_slot(triple: Triple, c: str) -> str:
    """When a thing of someone's takes place holds one date at a time ("my biology exam is on April
    12", later "moved to April 19"); other dates ("I have an MRI on Wednesday and bloodwork on
    Friday") accumulate."""
    if "'s " in triple.subject and c in slots.WHEN:
        return "date:when"
    if c.startswith("has_") and c.endswith(("_on", "_at", "_in", "_for")):
        return f"date:{c}"
    return f"dated:{c}"


def _is_name(name: str, kind: str) -> bool:
    return name[:1].isupper() and kind not in ("person", "date", "time", "quantity", "cardinal")


def is_single(slot: str, settings: ReconcileSettings) -> bool:
    return slot in settings.single_valued or slot.startswith(("favourite:", "role:", "date:", "kind:", "email:"))


def variants(predicate: str, settings: ReconcileSettings, learned: Mapping[str, str] | None = None) -> set[str]:
    """Every stored predicate that compares equal to ``predicate`` (:func:`canonical`), in each
    polarity: what a store must return for the rules to see every fact of the same slot."""
    target = canonical(predicate, settings, learned)
    named = slots.named_class(bare(predicate))
    targets = {target} if named is None else {target, named}
    forms = set(targets)
    for t in targets:
        forms |= {k for k, v in settings.equivalents.items() if v == t}
        forms |= {k for k, v in (learned or {}).items() if v == t}
        forms |= {k for k in slots.named_predicates() if slots.named_class(k) == t}
    return {f"{prefix}{form}" for form in forms for prefix in ("", NEGATION, *CESSATION, *INCEPTION)}


def slot_predicates(triple: Triple, settings: ReconcileSettings, learned: Mapping[str, str] | None = None) -> set[str]:
    """Every stored predicate that may hold ``triple``'s slot (:func:`variants`; for a value of
    one kind, "pescatarian", every verb that states such a value)."""
    forms = variants(triple.predicate, settings, learned)
    slot = slot_of(triple, settings, learned)
    if slot.startswith("email:"):
        forms |= variants("has_email", settings, learned)  # "has_work_address" holding an email
    if slot.startswith("kind:"):
        forms |= {f"{prefix}{v}" for v in slots.EXCLUSIVE_VERBS for prefix in ("", NEGATION, *CESSATION, *INCEPTION)}
    return forms


def polarity(predicate: str) -> bool:
    """False for negated or ceased relations."""
    return not predicate.startswith((NEGATION, *CESSATION)) and predicate not in CESSATION_VERBS


def same_slot(
    new: Triple, old: Triple, settings: ReconcileSettings, learned: Mapping[str, str], similarity: float | None = None
) -> bool:
    """Same subject and relation class; for keyed classes the same key (the medication of a
    dose); a favourite without a category is the slot of the favourites it is close to."""
    if norm(new.subject) != norm(old.subject):
        return False
    a, b = slot_of(new, settings, learned), slot_of(old, settings, learned)
    if a != b:
        if wildcard_match(a, b, "email:"):
            return True  # "my email" and "my work email"
        close = similarity is not None and similarity >= settings.judge_similarity
        return close and (wildcard_match(a, b, "favourite:") or wildcard_match(a, b, "role:"))
    cls = slots.BY_NAME.get(a)
    if cls is not None and cls.keyed:
        return norm(new.object).split()[:1] == norm(old.object).split()[:1]
    return True


def wildcard_match(a: str, b: str, kind: str) -> bool:
    """A favourite without a category, or a role without its subject ("my new coach" beside "my
    swim coach"), is the slot of the close memories of that kind."""
    if not (a.startswith(kind) and b.startswith(kind)):
        return False
    x, y = a[len(kind) :], b[len(kind) :]
    if kind in ("favourite:", "email:"):
        return "" in (x, y)
    return x.split("_")[-1] == y.split("_")[-1] and ("_" not in x or "_" not in y)


def same_object(a: str, b: str) -> bool:
    """The same thing, counted or not: "three coffees" and "coffee"."""
    x, y = norm(a), norm(b)
    return x == y or (bool(x) and bool(y) and head_word(x) == head_word(y))


def head_word(name: str) -> str:
    """The last word of ``name`` without a plural s ("three coffees" -> "coffee")."""
    word = name.split()[-1]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word
