"""The clause walk: the triples of one verb with its subject, objects, prepositions and
complements (the rules under "Triples, per clause" in recalld.extraction.spacy).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from spacy.tokens import Token

from recalld.extraction import values
from recalld.extraction.entities import Ctx, Ent, resolve, subjects_of
from recalld.extraction.negation import is_negated, no_longer, says_no
from recalld.extraction.nouns import phrase, with_conjuncts
from recalld.extraction.owners import named_by_owner, owners_view
from recalld.extraction.temporal import is_number, is_temporal
from recalld.extraction.words import HYPOTHETICAL, children, lemma, snake
from recalld.kernel.domain import Triple

RESIDENCE = frozenset({"home", "house", "flat", "apartment"})  # "my home is in Lyon": I live in Lyon

ASPECT_VERBS = frozenset({"quit", "stop", "start", "begin", "give_up", "keep", "continue", "resume"})

OWNING_VERBS = frozenset(
    {"have", "own", "adopt", "get", "keep", "rescue", "foster"}
)  # + pet/kin noun -> has_pet / has_<noun>

DIRECTIONAL = frozenset({"back", "over", "out", "away", "home", "down", "up"})


def _verb_like_conj(t: Token) -> bool:
    """A conjunct of a verb mis-tagged as a noun that takes a preposition or object, sharing the
    verb's subject: "work" in "I live in Berlin and work at Google"."""
    return (
        t.dep_ == "conj"
        and t.pos_ == "NOUN"
        and t.head.pos_ == "VERB"
        and not children(t, "det", "poss", "amod")
        and any(c.dep_ in ("prep", "dobj") for c in t.children)
    )


def opens_clause(t: Token) -> bool:
    """A verb the clause walk starts from (not an auxiliary, nor an xcomp its head's clause reads),
    or a conjunct verb mis-tagged as a noun (:func:`_verb_like_conj`)."""
    return (t.pos_ in ("VERB", "AUX") and t.dep_ not in ("aux", "auxpass", "xcomp")) or _verb_like_conj(t)


def _age(v: Token) -> str | None:
    """ "I'm 34 years old" / "I'm 34" -> "34"."""
    for adj in children(v, "acomp"):
        if adj.lower_ == "old":
            for years in children(adj, "npadvmod"):
                for n in children(years, "nummod"):
                    if n.like_num:
                        return n.text
    return None


def clause_triples(v: Token, ctx: Ctx) -> list[Triple]:
    """The triples of the clause of ``v``, for each of its subjects (none under "if"/"unless")."""
    if any(c.dep_ == "mark" and c.lower_ in HYPOTHETICAL for c in v.children):
        return []
    neg = is_negated(v)
    out: list[Triple] = []
    for subj in subjects_of(v, ctx):
        out.extend(subj.side)
        if subj.type == "person" and subj.name != ctx.speaker and not ctx.subject:
            ctx.subject = subj.name
        said = _copula(v, subj, neg, ctx) if v.lemma_ == "be" else _verb(v, subj, [], neg, ctx)
        out.extend(said)
        if subj.owner is not None:  # "my thesis is about X": a thing of mine, so (me, has_thesis_about, X)
            out.extend(owners_view(subj, said))
    return out


def relate(subj: Ent, pred: str, obj: Token, neg: bool, ctx: Ctx, hint: Ent | None = None) -> list[Triple]:
    """Triples for ``subj -pred-> obj`` (object side triples included)."""
    if is_temporal(obj):
        return []
    negated = neg or says_no(obj)
    ent = resolve(obj, ctx, None if negated else hint)
    if ent is None or ent.name == subj.name:
        return []
    main = (
        []
        if ent.hinted and pred in ("have", "own")
        else [Triple(subj.name, snake("not" if negated else "", pred), ent.name, subj.type, ent.type)]
    )
    return [*main, *ent.side]


def _objects(subj: Ent, pred: str, tokens: Iterable[Token], neg: bool, ctx: Ctx) -> list[Triple]:
    return [tr for t in tokens for o in with_conjuncts(t) for tr in relate(subj, pred, o, neg, ctx)]


def _preps(subj: Ent, pred: str, heads: Iterable[Token], neg: bool, ctx: Ctx) -> list[Triple]:
    """``pred_prep`` triples for prepositions (and passive agents) under ``heads``."""
    out: list[Triple] = []
    for head in heads:
        for p in children(head, "prep", "agent"):
            if head.dep_ == "dobj" and p.lower_ == "of":
                continue
            p_pred = snake(pred, "by" if p.dep_ == "agent" else p.lower_)
            out.extend(_objects(subj, p_pred, children(p, "pobj"), neg, ctx))
            for pc in children(p, "pcomp"):
                objects = children(pc, "dobj", "pobj")
                out.extend(_objects(subj, snake(p_pred, lemma(pc)), objects, neg, ctx))
                if not objects and pc.tag_ == "VBG":  # "terrified of flying": the activity is the object
                    out.append(Triple(subj.name, snake("not" if neg else "", p_pred), pc.lower_, subj.type, "concept"))
    return out


def _copula(v: Token, subj: Ent, neg: bool, ctx: Ctx) -> list[Triple]:
    out: list[Triple] = []
    subj_tok = (children(v, "nsubj") or [v])[0]
    owner = children(subj_tok, "poss")
    desc = values.description(subj_tok)
    if desc is not None and owner and (o := resolve(owner[0], ctx)):
        return _held(o, f"has_{desc}", v, neg, ctx)  # "my email is ...": the owner's email
    held = _held_by_subject(v, subj, neg, ctx)  # "ramen is my favourite", "Dana is my tutor"
    if any(t.predicate.startswith(("has_favourite", "not_has_favourite")) for t in held):
        return held
    out.extend(held)
    if subj_tok.lemma_ == "name" and owner and (o := resolve(owner[0], ctx)):
        named = [tr for a in children(v, "attr") for tr in relate(o, "has_name", a, neg, ctx)]
        if "'s " in o.name and not neg:  # "my dog's name is Joy": "bob's dog" is Joy
            ctx.aliases.update((o.name, t.object) for t in named if t.predicate == "has_name")
        return named + named_by_owner(named, o)
    if subj_tok.lemma_ in RESIDENCE and owner and (o := resolve(owner[0], ctx)) and o.type == "person":
        out.extend(_preps(o, "live", [v], neg, ctx))  # "my home is in Lyon": I live in Lyon
    attrs = [a for c in children(v, "attr") for a in with_conjuncts(c)]
    if "'s " in subj.name and not neg and len(attrs) == 1 and attrs[0].pos_ == "PROPN":
        # "Luna's vet is Dr. Smith": the description names a person, it is not a kind
        named = relate(subj, "has_name", attrs[0], neg, ctx)
        ctx.aliases.update((subj.name, t.object) for t in named if t.predicate == "has_name")
        return named + named_by_owner(named, subj)
    out.extend(tr for a in attrs for tr in relate(subj, "is_a", a, neg, ctx))
    for a in attrs:  # "a Persian, not a Siamese": the contrasted value, negated
        if any(c.dep_ == "neg" for c in a.children):
            out.extend(tr for c in children(a, "appos") for tr in relate(subj, "is_a", c, True, ctx))
    age = _age(v)
    bare_number = [a for a in attrs if a.like_num and a.text.isdigit() and 0 < int(a.text) < 120]
    if age is None and subj.type == "person" and len(attrs) == 1 and bare_number:  # "I'm 29"
        age = bare_number[0].text
        attrs = []
    if age is not None:
        out.append(Triple(subj.name, snake("not" if neg else "", "has_age"), age, subj.type, "quantity"))
    out.extend(_preps(subj, lemma(attrs[0]), attrs[:1], neg, ctx) if attrs else [])
    for adj in (a for c in children(v, "acomp") for a in with_conjuncts(c)):
        if age is not None and adj.lower_ == "old":
            continue
        adj_neg = neg or no_longer(adj)
        prep_triples = _preps(subj, lemma(adj), [adj], adj_neg, ctx)
        out.extend(prep_triples)
        # "allergic to latex" says nothing without its object; "pregnant with twins" and
        # "vegetarian like her mother" say the state as well
        if not prep_triples or all(p.lower_ in ("like", "with") for p in children(adj, "prep")):
            out.extend(relate(subj, "is", adj, adj_neg, ctx))
    out.extend(_preps(subj, "is", [v], neg, ctx))
    return out


def _held(owner: Ent, pred: str, v: Token, neg: bool, ctx: Ctx) -> list[Triple]:
    """``(owner, pred, value)`` for the values the copula ``v`` states ("... is a@b.org",
    "... is on June 4": ``pred_on``); dates are values here."""
    out: list[Triple] = []
    for a in (a for c in children(v, "attr", "acomp") for a in with_conjuncts(c)):
        out.extend(_value(owner, pred, a, neg, ctx))
    for p in children(v, "prep"):
        for o in (o for c in children(p, "pobj") for o in with_conjuncts(c)):
            out.extend(_value(owner, snake(pred, p.lower_), o, neg, ctx))
    return out


def _value(owner: Ent, pred: str, t: Token, neg: bool, ctx: Ctx) -> list[Triple]:
    date = ctx.ents.get(t.i)
    if date is not None and date.label_ in ("DATE", "TIME"):
        name, kind = date.text, "cardinal" if is_number(date.text) else "date"
    else:
        ent = resolve(t, ctx)
        if ent is None:
            return []
        name, kind = ent.name, ent.type
    return [Triple(owner.name, snake("not" if neg else "", pred), name, owner.type, kind)]


def _held_by_subject(v: Token, subj: Ent, neg: bool, ctx: Ctx) -> list[Triple]:
    """ "ramen is my favourite (food)" -> (alice, has_favourite[_food], ramen); "Dana is my
    new tutor" -> (alice's tutor, has_name, Dana), an alias of the description."""
    out: list[Triple] = []
    for a in (a for c in children(v, "attr") for a in with_conjuncts(c)):
        poss = children(a, "poss")
        owner = resolve(poss[0], ctx) if poss else None
        if owner is None:
            continue
        desc = values.description(a)
        if desc is not None and desc.startswith("favourite"):
            out.append(Triple(owner.name, snake("not" if neg else "", "has", desc), subj.name, owner.type, subj.type))
        elif values.is_role(a) and subj.type == "person" and subj.name[:1].isupper() and not neg:
            role = f"{owner.name}'s {values.role_words(phrase(a, ctx.ents))}"
            out.append(Triple(owner.name, snake("has", a.lemma_.lower()), role, owner.type, "person"))
            out.append(Triple(role, "has_name", subj.name, "person", "person"))
            ctx.aliases[role] = subj.name
    return out


def _taught(v: Token, subj: Ent, ctx: Ctx) -> list[Triple]:
    """ "Mr. Kim teaches me chemistry" -> (alice's chemistry teacher, has_name, Kim)."""
    found = values.taught(v) if subj.type == "person" and subj.name[:1].isupper() else None
    if found is None:
        return []
    role, area = found
    me = resolve(next(c for c in v.children if c.lower_ in ("me", "us")), ctx)
    if me is None:
        return []
    description = f"{me.name}'s {area + ' ' if area else ''}{role}"
    ctx.aliases[description] = subj.name
    return [
        Triple(me.name, snake("has", role), description, me.type, "person"),
        Triple(description, "has_name", subj.name, "person", "person"),
    ]


def _verb(v: Token, subj: Ent, prefix: list[str], neg: bool, ctx: Ctx) -> list[Triple]:
    passive = any(c.dep_ == "auxpass" for c in v.children)
    parts = [*prefix, v.lower_ if passive else lemma(v), *(c.lower_ for c in children(v, "prt"))]
    pred = snake(*parts)
    neg = neg or is_negated(v)
    out: list[Triple] = []
    if passive and lemma(v) in ("call", "name") and not prefix:  # "my dog is called Coco"
        named = _objects(subj, "has_name", children(v, "oprd", "attr"), neg, ctx)
        if "'s " in subj.name and not neg:
            ctx.aliases.update((subj.name, t.object) for t in named if t.predicate == "has_name")
        return named
    hint = subj if lemma(v) in OWNING_VERBS and not neg and not prefix else None
    dobj = children(v, "dobj")
    if not neg and not prefix:
        out.extend(_taught(v, subj, ctx))
    for o in (o for d in dobj for o in with_conjuncts(d)):
        measured = values.dose(o)
        if measured is not None:  # "20 mg of lisinopril": lisinopril, at that dose
            amount, med = measured
            for m in with_conjuncts(med):
                taken = relate(subj, pred, m, neg, ctx)
                out.extend(taken)
                out.extend(
                    Triple(subj.name, "takes_dose", f"{t.object} {amount}", subj.type, "quantity")
                    for t in taken[:1]
                    if not neg
                )
            continue
        gerund = [g for g in o.children if g.dep_ == "compound" and g.tag_ == "VBG"]
        if pred in ASPECT_VERBS and gerund:  # "quit drinking alcohol": quit_drink alcohol
            activity = snake(pred, lemma(gerund[0]))
            prefix_text = gerund[0].lower_ + " "
            out.extend(
                replace(t, object=t.object[len(prefix_text) :]) if t.object.lower().startswith(prefix_text) else t
                for t in relate(subj, activity, o, neg, ctx, hint)
            )
            continue
        out.extend(relate(subj, pred, o, neg, ctx, hint))
    out.extend(_objects(subj, pred, children(v, "attr", "oprd", "acomp"), neg, ctx))
    out.extend(_objects(subj, snake(pred, "to"), children(v, "dative"), neg, ctx))
    # "moved back to Oslo", "went over to Anna's": the preposition hangs off the adverb
    adverbs = [a for a in children(v, "advmod") if a.lower_ in DIRECTIONAL]
    out.extend(_preps(subj, pred, [v, *dobj, *adverbs], neg, ctx))
    xcomps = [y for x in children(v, "xcomp") if x.pos_ in ("VERB", "AUX") for y in with_conjuncts(x)]
    for x in xcomps:
        chained = _verb(x, subj, parts, neg, ctx)
        out.extend(
            chained
            or [
                Triple(
                    subj.name,
                    snake("not" if neg else "", pred),
                    x.lower_ if x.tag_ == "VBG" else lemma(x),
                    subj.type,
                    "concept",
                )
            ]
        )
    return out
