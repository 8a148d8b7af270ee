"""Noun phrases: the name a phrase is known by, its class noun, and what is coordinated with it.

A proper noun keeps its surface text (the NER span; a person keeps their title: "Dr. Okafor"); a
common noun is its lowercase head lemma with its compound/amod modifiers ("linear algebra");
numbers keep their units ("5 km"). A named noun ("my cat Luna", "a cat named Luna", "Luna, my
cat") splits into its name and its class noun.
"""

from __future__ import annotations

from spacy.tokens import Span, Token

from recalld.extraction.words import KIN, NON_ENTITY_POS, PETS, children
from recalld.kernel.slots import ROLES

SINGULAR_S = frozenset(
    {"pilates", "maths", "news", "series", "species", "diabetes", "measles", "mumps", "rabies", "herpes", "lens",
     "chess", "billiards", "darts", "scabies", "rickets", "shingles", "crossroads", "headquarters", "means",
     "aerobics", "gymnastics", "athletics", "physics", "economics", "politics", "ethics", "thanks"}
)  # fmt: skip

TITLES = frozenset({"dr", "mr", "mrs", "ms", "miss", "mx", "prof", "professor", "coach", "nurse", "rev", "sir", "dame"})

NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "PRODUCT", "EVENT", "WORK_OF_ART", "LANGUAGE"})

MODIFIER_DEPS = frozenset({"compound", "amod", "nummod", "nmod"})


# Nouns that measure out what follows their "of": "a bit of Italian", "a cup of coffee", "lots of
# vegetables", "a kind of pasta". What is spoken, drunk or eaten is the "of" phrase.
PARTITIVE = frozenset({"bit", "lot", "lots", "couple", "cup", "glass", "piece", "slice", "bunch", "handful",
                       "bottle", "bowl", "plate", "kind", "sort", "type", "pinch", "spoonful", "can", "pack",
                       "packet", "box", "bag", "pair", "mug", "pint", "dose", "course", "tablet"})  # fmt: skip


def measured(t: Token) -> Token:
    """What a partitive noun measures out ("a bit of Italian" -> Italian); otherwise ``t``."""
    if t.lemma_.lower() not in PARTITIVE or t.pos_ != "NOUN":
        return t
    for p in t.children:
        if p.dep_ == "prep" and p.lower_ == "of":
            inner = [o for o in p.children if o.dep_ == "pobj"]
            if inner:
                return measured(inner[0])
    return t


def with_conjuncts(t: Token) -> list[Token]:
    """``t`` and what is coordinated with it ("my dog Max and my cat Luna"), each partitive noun
    replaced by what it measures out ("English and a bit of Italian")."""
    if t.dep_ == "conj":
        return [measured(t)]
    named = name_token(t)
    return [measured(x) for x in (t, *t.conjuncts, *(named.conjuncts if named is not None else ()))]


def _listed_before(t: Token) -> bool:
    after = t.doc[t.i + 1] if t.i + 1 < len(t.doc) else None
    return after is not None and after.lower_ in (",", "and", "or", "plus", "&")


def name_token(t: Token) -> Token | None:
    """The proper noun naming ``t``: "my cat Luna", "a cat named Luna"."""
    contrast = any(c.dep_ == "neg" for c in t.children)  # "a Persian, not a Siamese"
    # An apposition names a pet, a relative or a role ("my dog Max", "my colleague, Jana"); after any
    # other noun it is an item of a list ("zorafen, trapevox as well as zorabex").
    nameable = class_noun(t) in PETS | KIN or t.lemma_.lower() in ROLES or bool(children(t, "poss"))
    for c in t.children:
        if c.dep_ == "appos" and c.pos_ == "PROPN" and not contrast and nameable:
            return c
        if c.dep_ == "acl" and c.lemma_ in ("name", "call"):
            named = [g for g in c.children if g.dep_ in ("oprd", "attr", "dobj") and g.pos_ == "PROPN"]
            if named:
                return named[0]
    return None


def _modifiers(t: Token) -> list[Token]:
    out: list[Token] = []
    for c in t.lefts:
        if _listed_before(c):
            continue  # "zolifen, zorafen": an item of a list, not a modifier
        if c.dep_ in MODIFIER_DEPS and not (c.is_stop and c.dep_ != "nummod") and c.pos_ not in NON_ENTITY_POS:
            out.extend(_modifiers(c))
            out.append(c)
    return out


def phrase(t: Token, ents: dict[int, Span]) -> str:
    """Entity name of the noun phrase headed by ``t``; a person keeps the title they are named
    with ("Dr. Okafor", "Mrs. Park")."""
    span = ents.get(t.i)
    if t.pos_ == "PROPN" and span is not None and span.label_ in NAME_LABELS:
        span = _around(span, t)  # "zolifen plus zorazam" read as one name: only t's part of it
        words = [w.text for w in span if not (w.i == span.start and w.lower_ == "the") and w.dep_ != "case"]
        before = span.doc[span.start - 1] if span.start > 0 else None
        if before is not None and before.lower_.rstrip(".") in TITLES and before.head.i in range(span.start, span.end):
            words.insert(0, before.text)
        return " ".join(words)
    mods = [m for m in _modifiers(t) if not (t.pos_ == "PROPN" and class_noun(m) in PETS | KIN)]
    numeric = any(m.dep_ == "nummod" for m in mods)
    singular = t.lower_.endswith("ics") or t.lower_ in SINGULAR_S  # "statistics", "pilates": not plurals
    head = t.text if t.pos_ == "PROPN" else (t.lower_ if numeric or singular else t.lemma_.lower())
    return " ".join([*(m.text if m.pos_ == "PROPN" else m.lower_ for m in mods), head])


def _around(span: Span, t: Token) -> Span:
    """The part of ``span`` around ``t`` between coordinators ("and", "or", "plus", ",")."""
    start, end = span.start, span.end
    for w in span:
        if w.lower_ in ("and", "or", "plus", ",", "&", "nor"):
            if w.i < t.i:
                start = w.i + 1
            elif w.i > t.i:
                end = w.i
                break
    return span.doc[start:end]


def class_noun(noun: Token | None) -> str:
    """The class noun of an NP ("cat"), "" when there is none."""
    if noun is None or noun.pos_ != "NOUN":
        return ""
    head = noun.lemma_.lower()
    compound = [c.lower_ for c in noun.lefts if c.dep_ == "compound"]
    return f"{compound[-1]} {head}" if compound and f"{compound[-1]} {head}" in PETS else head


def split_np(t: Token) -> tuple[Token | None, Token | None]:
    """(name token, class noun) of the NP headed by ``t``; either may be None."""
    named = name_token(t)
    if named is not None:
        return named, t
    if t.pos_ != "PROPN":
        return None, t
    for c in t.children:  # "Luna, my cat" / "our dog Rex" (parsed as a compound)
        if (c.dep_ == "appos" and c.pos_ == "NOUN") or (c.dep_ == "compound" and class_noun(c) in PETS | KIN):
            return t, c
    return t, None
