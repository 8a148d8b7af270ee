"""What the speaker holds that the clause walk does not state: doses of named medications,
roles named or handed over, where they work or study, things of theirs rescheduled, and contact
details given without naming them.
"""

from __future__ import annotations

from collections.abc import Sequence

from spacy.tokens import Span

from recalld.extraction import values
from recalld.extraction.entities import Ctx, resolve
from recalld.extraction.nouns import name_token, phrase
from recalld.extraction.owners import owners_view
from recalld.extraction.words import FIRST_PERSON, KIN, children, lemma, snake
from recalld.kernel.domain import Triple
from recalld.kernel.slots import ROLE_TIME_WORDS, ROLES

_PLACES = frozenset({"DATE", "TIME", "GPE", "ORG", "LOC", "FAC"})


def _about_speaker(sent: Span) -> bool:
    """The sentence states something of the speaker's: "I ...", "my doctor lowered my dose", not
    "my mum takes 5 mg of ..."."""
    if not any(t.lower_ in FIRST_PERSON for t in sent):
        return False
    subj = [c for c in sent.root.children if c.dep_ in ("nsubj", "nsubjpass")]
    return not subj or subj[0].lower_ in FIRST_PERSON or subj[0].lemma_.lower() not in KIN - ROLES


def contacts(sent: Span, triples: Sequence[Triple], ctx: Ctx) -> list[Triple]:
    """Contact details the speaker gives without naming them ("please use b@y.org from now
    on", "reach me at ..."): the speaker's, unless a triple already places them."""
    placed = {t.object for t in triples}
    own = any(t.lower_ in FIRST_PERSON for t in sent) or not any(
        c.dep_ in ("nsubj", "nsubjpass") for c in sent.root.children
    )
    if not own:
        return []
    found = [("has_email", e) for e in values.emails(sent)] + [("has_phone", p) for p in values.phones(sent)]
    return [Triple(ctx.speaker, pred, v, "person", "concept") for pred, v in found if v not in placed]


def held_values(sent: Span, triples: Sequence[Triple], ctx: Ctx) -> list[Triple]:
    """Doses of named medications ("my doctor lowered my Nuvexa to 10 mg"), roles named or
    handed over ("a tutor called Priya", "I switched therapists and now I see Marcus"), and
    where one works or studies ("I'm a staff nurse at the Royal Free", "a freshman at Oregon
    State"), for the speaker."""
    if not _about_speaker(sent):
        return []
    me = ctx.speaker
    out: list[Triple] = []
    dosed = {t.object.split()[0].casefold() for t in triples if t.predicate == "takes_dose"}
    for drug, amount in values.doses(sent.text):
        if drug.casefold() not in dosed:
            out.append(Triple(me, "takes_dose", f"{drug} {amount}", "person", "quantity"))
    out.extend(_roles(sent, ctx))
    out.extend(_rescheduled(sent, ctx))
    root = sent.root
    if root.lemma_ != "be" or not any(c.lower_ in FIRST_PERSON for c in children(root, "nsubj")):
        return out
    jobs = [a for a in children(root, "attr") if a.pos_ == "NOUN"]
    # "a freshman at Oregon State", "in my final year at Westlake High"; not "a junior copywriter at Ogilvy"
    said = jobs or list(sent)
    student = any(t.lemma_.lower() in values.STUDENTS for t in said) or bool(values.SCHOOL_YEAR.search(sent.text))
    for head in (root, *jobs):
        for p in children(head, "prep"):
            for place in children(p, "pobj"):
                if p.lower_ not in ("at", "with", "for") or not place.text[:1].isupper():
                    continue
                name = phrase(place, ctx.ents)
                if student:  # "I'm in my final year at Westlake High", "a freshman at Oregon State"
                    out.append(Triple(me, "studies_at", name, "person", "org"))
                elif jobs:  # "I'm a staff nurse at the Royal Free Hospital"
                    out.append(Triple(me, "works_at", name, "person", "org"))
                    out.append(Triple(me, "works_as", phrase(jobs[0], ctx.ents), "person", "concept"))
    return out


def _rescheduled(sent: Span, ctx: Ctx) -> list[Triple]:
    """ "They've moved my biology exam to April 19", "my appointment got pushed to Friday": the
    thing of mine is on the new date (``is_on``, and the owner's ``has_<thing>_on``)."""
    out: list[Triple] = []
    for v in sent:
        if v.pos_ != "VERB" or lemma(v) not in values.RESCHEDULING:
            continue
        things = children(v, "dobj") or [c for c in children(v, "nsubjpass", "nsubj") if children(c, "poss")]
        dates = [
            ctx.ents[o.i]
            for p in children(v, "prep")
            if p.lower_ in ("to", "until", "for")
            for o in children(p, "pobj")
            if o.i in ctx.ents and ctx.ents[o.i].label_ in ("DATE", "TIME")
        ]
        for thing in things[:1]:
            ent = resolve(thing, ctx)
            if ent is None or ent.owner is None or not dates:
                continue
            said = [Triple(ent.name, "is_on", dates[0].text, ent.type, "date")]
            out.extend([*said, *owners_view(ent, said)])
    return out


def _roles(sent: Span, ctx: Ctx) -> list[Triple]:
    """A role the speaker has, named ("a tutor called Priya") or handed over ("I switched therapists
    and now I see Marcus"): the description's name, and the speaker's ``has_<role>``."""
    roles = [t for t in sent if t.lemma_.lower() in ROLES and not (t.dep_ == "compound" and t.head.pos_ == "PROPN")]
    if len({r.lemma_.lower() for r in roles}) != 1:
        return []
    role = roles[0]
    owner = children(role, "poss")
    if owner and owner[0].lower_ not in ("my", "our"):
        return []  # "my sister's therapist"
    named = name_token(role)
    if named is None and values.CHANGE.search(sent.text):
        people = [t for t in sent if t.pos_ == "PROPN" and t.dep_ != "compound" and t.ent_type_ not in _PLACES
                  and t.lemma_.lower() not in ROLES and t.i != role.i]  # fmt: skip
        named = people[0] if len(people) == 1 else None
    if named is None:
        return []
    area = [c.lower_ for c in role.lefts if c.dep_ in ("compound", "amod") and c.pos_ != "PRON"
            and c.lower_ not in values.FORMER and c.lower_ not in ROLE_TIME_WORDS]  # fmt: skip
    words = [*area, role.lemma_.lower()]
    description = f"{ctx.speaker}'s {' '.join(words)}"
    name = phrase(named, ctx.ents)
    ctx.aliases[description] = name
    return [
        Triple(description, "has_name", name, "person", "person"),
        Triple(ctx.speaker, snake("has", *words), name, "person", "person"),
    ]
