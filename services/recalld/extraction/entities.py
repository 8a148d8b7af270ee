"""Entities: who or what a token stands for, in the context of one sentence.

:func:`resolve` names the entity a token stands for (:class:`Ent`): the first person is the
speaker; he/she/him/her/his are the person the clause is about, or the one named just before
(:func:`next_antecedent`); other pronouns are nobody; a possessed noun without a name is named
after its owner ("alice's sister"), with the owner's relation to it as a side triple.
:func:`subjects_of` finds a verb's subjects (conjoined verbs inherit them, relative clauses take
their head's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spacy.tokens import Span, Token

from recalld.extraction import values
from recalld.extraction.nouns import class_noun, phrase, split_np, with_conjuncts
from recalld.extraction.temporal import is_number, is_temporal
from recalld.extraction.words import (
    FIRST_PERSON,
    KIN,
    NON_ENTITY_POS,
    OTHER_PRONOUNS,
    PERSONAL,
    PETS,
    RELATIVE,
    children,
    snake,
)
from recalld.kernel.domain import Fact, Triple


@dataclass(frozen=True, slots=True)
class Ent:
    name: str
    type: str
    side: tuple[Triple, ...] = ()  # triples implied by the noun phrase itself
    hinted: bool = False  # owned through "have" (the verb triple is then implied)
    owner: Ent | None = None  # "alice's thesis": a thing of alice's, described (not a person, pet or role)
    described: str = ""  # its description: "thesis"


@dataclass(slots=True)
class Ctx:
    speaker: str
    known: dict[str, str]  # entity name -> type learned from a strong rule
    ents: dict[int, Span] = field(default_factory=dict)
    cache: dict[tuple[int, str], Ent | None] = field(default_factory=dict)
    antecedent: str = ""  # the person he/she/him/her/his refer to ("" : none, or ambiguous)
    aliases: dict[str, str] = field(default_factory=dict)  # description -> name, this sentence
    subject: str = ""  # the third person the clause being read is about (his/her/their refer to it)
    stand_ins: set[str] = field(default_factory=set)  # objects the fallback replaced by what they stood for


# Kin a speaker names as a name ("Mum", "Grandad"): always the speaker's own.
PARENTS = frozenset({"mum", "mom", "mam", "mummy", "mommy", "mother", "dad", "daddy", "father", "grandma", "grandpa",
                     "granny", "grandad", "granddad", "nan", "nana", "nanna", "gran"})  # fmt: skip


def resolve(t: Token, ctx: Ctx, hint: Ent | None = None) -> Ent | None:
    key = (t.i, hint.name if hint else "")
    if key not in ctx.cache:
        ctx.cache[key] = _resolve_uncached(t, ctx, hint)
    return ctx.cache[key]


def _resolve_uncached(t: Token, ctx: Ctx, hint: Ent | None) -> Ent | None:
    if t.pos_ == "PRON" and t.lower_ in FIRST_PERSON:
        return Ent(ctx.speaker, "person")
    if t.pos_ == "PRON" and t.lower_ in PERSONAL and (ctx.subject or ctx.antecedent):
        return Ent(ctx.subject or ctx.antecedent, "person")
    if t.pos_ in NON_ENTITY_POS or t.lower_ in OTHER_PRONOUNS or not any(c.isalnum() for c in t.text):
        return None
    if t.lower_ in PARENTS and t.text[:1].isupper() and not children(t, "poss") and not children(t, "compound"):
        name = f"{ctx.speaker}'s {t.lower_}"  # "Mum moved into our spare room": the speaker's mum
        return Ent(name, "person", (Triple(ctx.speaker, snake("has", t.lower_), name, "person", "person"),))
    proper, noun = split_np(t)
    category = class_noun(noun)
    poss = (children(noun, "poss") if noun is not None else []) or children(t, "poss")
    owner: Ent | None = resolve(poss[0], ctx) if poss else None
    if poss and owner is None and proper is None:
        return None  # "his sister", "your stories": the owner is unknown, so is the entity
    hinted = owner is None and hint is not None and category in PETS | KIN
    owner = owner or (hint if hinted else None)
    if proper is not None:
        name = phrase(proper, ctx.ents)
        if owner is not None and noun is not None and category and category != "name":
            ctx.aliases[f"{owner.name}'s {phrase(noun, ctx.ents)}"] = name  # "my cat Luna"
    elif owner is not None and noun is not None:
        own = phrase(noun, ctx.ents)
        name = f"{owner.name}'s {values.role_words(own) if values.is_role(noun) else own}"
    else:
        name = phrase(t, ctx.ents)
    etype = _entity_type(name, t if proper is None else proper, category, ctx)
    side: list[Triple] = list(owner.side) if owner else []
    if owner is not None and category != "name" and values.description(noun) is None:
        relation = "has_pet" if category in PETS else snake("has", category)
        side.append(Triple(owner.name, relation, name, owner.type, etype))
    if category in PETS and category != "pet" and name != category:
        side.append(Triple(name, "is_a", category, etype, "animal"))
    elif proper is not None and category and owner is None:
        side.append(Triple(name, "is_a", category, etype, "person" if category in KIN else "concept"))
    thing = owner is not None and proper is None and noun is not None and category not in PETS | KIN
    if thing and not values.is_role(noun) and owner is not None and not hinted:
        return Ent(name, etype, tuple(side), hinted, owner, name[len(owner.name) + 3 :])
    if owner is not None and proper is not None and noun is None and not hinted and etype not in ("person", "animal"):
        # "my SAT is on October 5", "my Tesla": a thing of the owner's known by its name
        return Ent(name, etype, tuple(side), hinted, owner, name.lower())
    return Ent(name, etype, tuple(side), hinted)


def _entity_type(name: str, t: Token, category: str, ctx: Ctx) -> str:
    if category in PETS:
        ctx.known[name] = "animal"
    elif category in KIN:
        ctx.known[name] = "person"
    if name == ctx.speaker:
        return "person"
    if name in ctx.known:
        return ctx.known[name]
    if t.ent_type_ in ("DATE", "TIME", "CARDINAL", "ORDINAL") and not (is_temporal(t) or t.like_num):
        return "concept"  # a word the recognizer took for a date ("I no longer take zoradril")
    if t.ent_type_ in ("DATE", "TIME") and is_number(name):
        return "cardinal"  # a phone number the recognizer took for a date
    return t.ent_type_.lower() or "concept"


def subjects_of(v: Token, ctx: Ctx) -> list[Ent]:
    subj = children(v, "nsubj", "nsubjpass")
    if not subj and v.dep_ == "acl" and v.head.dep_ == "attr" and v.head.head.lemma_ == "be":
        return subjects_of(v.head.head, ctx)  # "I'm a US citizen living in Prague"
    if not subj:
        if v.dep_ == "conj" and v.head is not v and v.head.dep_ != "xcomp":
            return subjects_of(v.head, ctx)
        return []
    if subj[0].lower_ in RELATIVE:
        if v.dep_ != "relcl":
            return []
        if v.head.dep_ == "attr" and v.head.head.lemma_ == "be":  # "I'm a vegetarian who eats eggs"
            return subjects_of(v.head.head, ctx)
        return [e for e in [resolve(v.head, ctx)] if e]
    out: list[Ent] = []
    for s in with_conjuncts(subj[0]):  # "Carlos and his wife": his is Carlos
        e = resolve(s, ctx)
        if e is not None:
            out.append(e)
            if e.type == "person" and e.name != ctx.speaker and not ctx.subject:
                ctx.subject = e.name
    return out


def next_antecedent(fact: Fact, current: str) -> str:
    """The person he/she refer to after ``fact``: the one named person it mentions; the previous
    one when it mentions no name; nobody when another capitalized name of unknown type could be a
    person too (the tagger's NER misses names: "Anna met Maria" types Anna as a concept)."""
    people: set[str] = set()
    unsure: set[str] = set()
    for t in fact.triples:
        for name, typ in ((t.subject, t.subject_type), (t.object, t.object_type)):
            if name == fact.speaker or "'s " in name or not name[:1].isupper():
                continue
            if typ == "person":
                people.add(name)
            elif typ in ("concept", "entity"):
                unsure.add(name)
    if not people and not unsure:
        return current
    return people.pop() if len(people) == 1 and not unsure else ""
