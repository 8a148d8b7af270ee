"""Negation, cessation and correction.

"not", "n't", "never" and "no longer" negate the verb they modify, the conjoined verbs without a
subject of their own and the complements after it ("I don't think I'm allergic"); "no" on an
object negates that object. A sentence saying that something ended (:data:`CESSATION`) or
correcting what was said (:data:`CORRECTION`) gets a hint of that (recalld.extraction.spacy).
"""

from __future__ import annotations

import re

from spacy.tokens import Token

NEGATORS = frozenset({"not", "n't", "never"})

CESSATION = re.compile(
    r"\b(?:no longer|any ?more|stopped|stop|quit|gave up|give up|given up|never again)\b", re.IGNORECASE
)

PURPOSE_STOP = re.compile(r"\b(?:to|help(?:s)?|helps? to) stop\b", re.IGNORECASE)

CORRECTION = re.compile(
    r"^\s*(?:actually|correction|sorry|to correct myself)\b|\bI meant\b|,\s*not\s+(?:a|an|the)?\s*\w+[.!]*\s*$",
    re.IGNORECASE,
)


def no_longer(t: Token) -> bool:
    """ "no longer" on ``t`` ("I no longer eat meat", "I'm no longer vegetarian")."""
    return any(
        c.dep_ == "advmod" and c.lower_ == "longer" and any(g.lower_ in ("no", "not") for g in c.children)
        for c in t.children
    )


def is_negated(v: Token) -> bool:
    """``v`` says not: negated itself, or a complement or a subjectless conjunct of a negated verb."""
    if any(c.dep_ == "neg" or c.lower_ in NEGATORS for c in v.children) or no_longer(v):
        return True
    own_subject = any(c.dep_ in ("nsubj", "nsubjpass", "expl") for c in v.children)
    # "I don't think I'm sick": a complement after a negated verb is negated. One before its head is
    # the small parser's reading of two clauses ("I've got two daughters, so the house is never
    # quiet" has "got" as a complement of "is"): the later clause's negation is its own.
    if (v.dep_ == "ccomp" and v.i > v.head.i) or (v.dep_ in ("conj", "xcomp") and not own_subject):
        return v.head is not v and is_negated(v.head)
    return False


def says_no(obj: Token) -> bool:
    """ "no" on the object ("I have no allergies")."""
    return any(c.dep_ == "det" and c.lower_ == "no" for c in obj.children)
