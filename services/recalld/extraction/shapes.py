"""Sentence shapes the clause walk does not read: two people together ("Kieran and I broke
up"), a name described by what someone does with it, a death, an age turned, a treatment someone
put the speaker on, an activity gone to, an adjective the tagger made a passive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from spacy.tokens import Span, Token

from recalld.extraction.clauses import relate
from recalld.extraction.entities import Ctx, Ent, resolve
from recalld.extraction.negation import is_negated
from recalld.extraction.nouns import class_noun, with_conjuncts
from recalld.extraction.words import FIRST_PERSON, KIN, PETS, children, lemma, snake
from recalld.kernel import slots
from recalld.kernel.domain import Triple

NOUNS = frozenset({"NOUN", "PROPN", "PRON"})

# What someone else does to the speaker's treatment: (verb, preposition) -> the speaker's relation.
PUT_ME = {
    ("put", "on"): "is_on", ("start", "on"): "is_on", ("keep", "on"): "is_on", ("put", "onto"): "is_on",
    ("switch", "to"): "switch_to", ("move", "to"): "switch_to", ("change", "to"): "switch_to",
    ("take", "off"): "stop_take",
}  # fmt: skip

# Things two people do together, as the speaker's relation to the other ("Kieran and I broke up"):
# (verb lemma, its particle, or for "get" its state) -> relation.
RECIPROCAL = {
    ("break", "up"): "break_up_with", ("split", "up"): "split_up_with", ("split", ""): "split_up_with",
    ("divorce", ""): "divorce", ("separate", ""): "separate_from", ("marry", ""): "married_to",
    ("get", "marry"): "married_to", ("get", "engage"): "engaged_to", ("get", "divorce"): "divorce",
    ("get", "separate"): "separate_from", ("get", "divorced"): "divorce", ("get", "separated"): "separate_from",
}  # fmt: skip


def _died(v: Token) -> bool:
    """ "died", "passed away", "passed on", "was put down", "was put to sleep"."""
    if v.pos_ != "VERB":
        return False
    verb = v.lemma_.lower()
    around = {c.lower_ for c in v.children if c.dep_ in ("prt", "advmod", "prep")}
    passive = bool(children(v, "auxpass"))
    return (
        verb == "die"
        or (verb == "pass" and bool(around & {"away", "on"}))
        or (verb == "put" and passive and bool(around & {"down", "to"}))
    )


def shape_triples(sent: Span, ctx: Ctx) -> list[Triple]:
    """Sentence shapes the clause walk does not read: two people together, a name described,
    a death, an age turned, something done to the speaker, an activity gone to, an adjective
    the tagger made a passive."""
    out = [*_together(sent, ctx), *_described(sent, ctx), *_done_to_me(sent, ctx)]
    for v in (t for t in sent if _died(t)):  # "Rosie passed away": Rosie is deceased
        for s_, subj in _named_subjects(v, ctx, "nsubj", "nsubjpass"):
            alive = s_.lower_ in KIN | PETS or class_noun(s_) in KIN | PETS  # not "the battery died"
            if alive or subj.type in ("person", "animal"):
                out.append(Triple(subj.name, "is", slots.DECEASED, subj.type, "concept"))
    for v in (t for t in sent if t.lemma_ == "turn" and t.pos_ == "VERB"):  # "I turned 30 today"
        years = [n for c in v.children for n in (c, *c.children) if n.like_num and n.text.isdigit()]
        for _, subj in _named_subjects(v, ctx, "nsubj") if years and 0 < int(years[0].text) < 120 else ():
            if subj.type == "person":
                out.append(Triple(subj.name, "has_age", years[0].text, subj.type, "quantity"))
    for go in (t for t in sent if t.lemma_ == "go" and t.pos_ == "VERB"):
        for x in (x for x in children(go, "xcomp") if x.tag_ == "VBG"):  # "I go bouldering": the activity
            out.extend(
                Triple(subj.name, "go", lemma(x), subj.type, "concept") for _, subj in _named_subjects(go, ctx, "nsubj")
            )
    root = sent.root
    if root.pos_ == "ADJ" and children(root, "auxpass", "aux"):  # "I'm left-handed" read as a passive
        for _, subj in _named_subjects(root, ctx, "nsubjpass", "nsubj"):
            out.extend(relate(subj, "is", root, False, ctx))
    return out


def _named_subjects(v: Token, ctx: Ctx, *deps: str) -> Iterator[tuple[Token, Ent]]:
    """``v``'s subjects (of those dependencies) that resolve to an entity."""
    for s_ in children(v, *deps):
        subj = resolve(s_, ctx)
        if subj is not None:
            yield s_, subj


def _done_to_me(sent: Span, ctx: Ctx) -> list[Triple]:
    """What someone put the speaker on: "my neurologist put me on Zorvexa" -> (alice, is_on,
    Zorvexa); "switched me to vortioxetine" -> (alice, switch_to, ...); "took me off ramipril"
    -> (alice, stop_take, ramipril); "Dr. Mbeki prescribed me Trelodine" -> (alice, prescribed,
    Trelodine)."""
    out: list[Triple] = []
    for v in (t for t in sent if t.pos_ == "VERB"):
        me = [c for c in v.children if c.dep_ in ("dobj", "dative") and c.lower_ in ("me", "us")]
        patient = resolve(me[0], ctx) if me else None
        if patient is None:
            continue
        verb = v.lemma_.lower()
        neg = "not_" if is_negated(v) else ""
        for p in children(v, "prep"):
            relation = PUT_ME.get((verb, p.lower_), "")
            for o in (o for c in children(p, "pobj") for o in with_conjuncts(c)) if relation else ():
                said = relate(patient, relation, o, False, ctx)
                out.extend(replace(t, predicate=neg + relation) for t in said)
        if verb == "prescribe":
            for o in (o for c in children(v, "dobj") if c not in me for o in with_conjuncts(c)):
                out.extend(relate(patient, "prescribed", o, bool(neg), ctx))
    return out


def _described(sent: Span, ctx: Ctx) -> list[Triple]:
    """A name described by what someone does with it: "Radiohead is the band I listen to most"
    gives (speaker, listen_to, Radiohead); "the podcast I follow is Hard Fork" (speaker,
    follow, Hard Fork). A negated description ("the one I never miss") says nothing here."""
    out: list[Triple] = []
    for v in (v for v in sent if v.lemma_ == "be"):
        subjects, attrs = children(v, "nsubj"), children(v, "attr")
        if not subjects or not attrs:
            continue
        for holder, value in ((attrs[0], subjects[0]), (subjects[0], attrs[0])):
            if value.pos_ != "PROPN":
                continue
            for r in children(holder, "relcl"):
                who = children(r, "nsubj")
                if not who or children(r, "dobj", "neg"):
                    continue
                doer, thing = resolve(who[0], ctx), resolve(value, ctx)
                if doer is None or thing is None:
                    continue
                open_preps = [p for p in children(r, "prep") if not any(o.pos_ in NOUNS for o in children(p, "pobj"))]
                pred = snake(lemma(r), open_preps[0].lower_) if open_preps else lemma(r)
                out.append(Triple(doer.name, pred, thing.name, doer.type, thing.type))
    return out


def _together(sent: Span, ctx: Ctx) -> list[Triple]:
    """What the speaker and one other person did to each other: "Kieran and I broke up",
    "Rafael and I got married" (the speaker's relation to the other, :data:`RECIPROCAL`)."""
    out: list[Triple] = []
    for v in sent:
        subjects = children(v, "nsubj") or children(v, "nsubjpass")
        if v.pos_ not in ("VERB", "AUX") or not subjects:
            continue
        group = [subjects[0], *subjects[0].conjuncts]
        me = [g for g in group if g.pos_ == "PRON" and g.lower_ in FIRST_PERSON]
        others = [g for g in group if g not in me]
        if len(group) != 2 or len(me) != 1:
            continue
        particle = next((c.lower_ for c in v.children if c.dep_ == "prt"), "")
        state = next((c.lemma_.lower() for c in v.children if c.dep_ in ("acomp", "attr", "oprd", "xcomp")), "")
        relation = RECIPROCAL.get((v.lemma_.lower(), particle or (state if v.lemma_.lower() == "get" else "")))
        other = resolve(others[0], ctx) if relation else None
        if relation and other is not None:
            out.append(Triple(ctx.speaker, relation, other.name, "person", other.type))
    return out
