"""The owner's side of what is said of their things and people.

"my SAT is on October 5" -> also ``(alice, has_sat_on, October 5)``; "my swim coach is Hannah Lee"
-> also ``(alice, has_swim_coach, Hannah Lee)``; "my kids are Mia and Theo" -> ``(alice, has_kid,
Mia)`` in place of ``(alice's kid, is_a, Mia)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from recalld.extraction.entities import Ent
from recalld.extraction.words import KIN, PETS, snake
from recalld.kernel.domain import Triple
from recalld.kernel.slots import ROLES


def owners_view(subj: Ent, said: Sequence[Triple]) -> list[Triple]:
    """The owner's view of what a clause says of a thing of theirs: "my SAT is on October 5" ->
    ``(alice, has_sat_on, October 5)``, "my major is linguistics" -> ``(alice, has_major, linguistics)``."""
    owner = subj.owner
    if owner is None:
        return []
    out: list[Triple] = []
    for t in said:
        if t.subject != subj.name or t.object == owner.name:
            continue
        neg = t.predicate.startswith("not_")
        p = t.predicate[4:] if neg else t.predicate
        rest = "" if p in ("is", "is_a") else p[3:] if p.startswith("is_") else p
        out.append(Triple(owner.name, snake("not" if neg else "", "has", subj.described, rest), t.object,
                          owner.type, t.object_type))  # fmt: skip
    return out


def named_by_owner(named: Sequence[Triple], described: Ent) -> list[Triple]:
    """ "my swim coach is Hannah Lee" -> also ``(alice, has_swim_coach, Hannah Lee)``: the owner
    reaches the name in one step."""
    owner, _, role = described.name.partition("'s ")
    if not role or not owner or "'s " in role:
        return []
    return [Triple(owner, snake("has", role), t.object, "person", t.object_type) for t in named
            if t.predicate == "has_name" and t.subject == described.name]  # fmt: skip


def named_by_owners(triples: list[Triple]) -> list[Triple]:
    """The owner reaches the names of their people in one step: "my wife is called Fatima" ->
    also (alice, has_wife, Fatima); "my kids are Mia and Theo" -> (alice, has_kid, Mia) ... in
    place of (alice's kid, is_a, Mia)."""
    out: list[Triple] = []
    for t in triples:
        owner, _, words = t.subject.partition("'s ")
        named = t.object[:1].isupper() and bool(words) and "'s " not in words
        person = named and words.split()[-1] in KIN | PETS | ROLES
        if named and (t.predicate == "has_name" or (t.predicate == "is_a" and person)):
            relation = "has_pet" if words.split()[-1] in PETS else snake("has", words)
            owned = Triple(owner, relation, t.object, "person", t.object_type)
            if owned not in triples and owned not in out:
                out.append(owned)
            if t.predicate == "is_a":
                continue  # "Mia" is not a kind of kid
        out.append(t)
    return out
