"""The fallback: what the parse left out.

A content word the sentence states after a verb, an adjective or a preposition and that no triple
holds becomes an object of the nearest verb or adjective before it (:func:`stated_objects`); the
items of a list the parse did not attach get the relation of the object they are listed with
(:func:`listed_items`). Never dropped silently, never a second copy of what a triple holds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from spacy.tokens import Span, Token

from recalld.extraction.entities import Ctx, resolve, subjects_of
from recalld.extraction.negation import is_negated, no_longer
from recalld.extraction.nouns import measured, phrase
from recalld.extraction.owners import owners_view
from recalld.extraction.temporal import is_temporal, names_day
from recalld.extraction.words import HYPOTHETICAL, OTHER_PRONOUNS, PRONOUNS, children, lemma, snake
from recalld.kernel.domain import Triple

_WORD = re.compile(r"[\w'-]+")

AUXILIARIES = frozenset(
    {"be", "have", "do", "will", "would", "can", "could", "may", "might", "must", "shall", "should", "ought", "to",
     "'s", "'ve", "'d", "'ll", "'m", "'re", "get", "used", "need", "dare", "wo", "ca", "sha", "gon", "wan"}
)  # fmt: skip

COMMON_ADVERBS = frozenset(
    {"here", "there", "now", "then", "today", "tonight", "too", "also", "again", "back", "away", "home", "daily",
     "weekly", "monthly", "often", "always", "never", "sometimes", "usually", "still", "already", "just", "even",
     "only", "very", "really", "quite", "well", "much", "more", "most", "less", "together", "alone", "abroad",
     "outside", "inside", "online", "early", "late", "soon", "ago", "anymore", "yet", "instead", "though",
     "anyway", "fast", "hard", "everywhere", "somewhere", "anywhere", "nowhere", "downstairs", "upstairs", "around",
     "off", "out", "up", "down", "over", "in", "on", "about", "along", "ahead", "forward", "apart", "aside",
     "overseas", "part-time", "full-time", "forever", "once", "twice", "nightly", "hourly", "tomorrow", "yesterday",
     "enough", "so", "not", "as", "how", "why", "where", "when", "else", "maybe", "perhaps", "almost", "nearly"}
)  # fmt: skip

_SEPARATORS = frozenset({",", "and", "or", "plus", "nor"})  # not "&": "Ernst & Young" is one name

_LIST_SKIP = frozenset({"a", "an", "the", "some", "my", "also", "even", "maybe", "sometimes", "especially",
                        "particularly", "mainly", "mostly", "including", "notably"})  # fmt: skip


def _candidate(tok: Token, covered: set[str], dates: dict[int, Span]) -> bool:
    """A content word the triples do not hold, in the place of an object."""
    if tok.i in dates:
        return not any(w.lower_ in covered for w in dates[tok.i])
    if tok.is_stop or tok.lower_ in covered or tok.lemma_.lower() in covered or tok.lower_ in OTHER_PRONOUNS:
        return False
    if measured(tok) is not tok:
        return False  # "a cup of coffee": the cup only measures what the triple holds
    if not (tok.is_alpha or tok.like_num or (tok.text[:1].isalnum() and "-" in tok.text)) or is_temporal(tok):
        return False
    if tok.dep_ in ("nsubj", "nsubjpass", "poss", "expl", "ROOT", "aux", "auxpass", "neg", "prt", "case"):
        return False
    after = tok.doc[tok.i + 1] if tok.i + 1 < len(tok.doc) else None
    listed = after is not None and (after.lower_ in _SEPARATORS or _as_well_as(after))
    modifier = tok.dep_ in ("compound", "amod", "nummod", "nmod") and tok.head.i > tok.i
    if modifier and tok.head.pos_ in ("NOUN", "PROPN") and not listed:
        return False  # a modifier: the phrase of its head holds it ("quilibex, zorazam": an item, not one)
    if tok.pos_ in ("NOUN", "PROPN", "NUM") or (tok.pos_ == "PRON" and tok.lower_ not in PRONOUNS):
        return True  # a word the tagger took for a pronoun ("allergic to zokabex") is a word
    if tok.dep_ in ("pobj", "dobj") and tok.is_alpha and tok.lower_ not in PRONOUNS | COMMON_ADVERBS:
        return True  # an object whatever its tag ("not allergic to feduzam" read as a preposition)
    if listed and tok.is_alpha and tok.lower_ not in COMMON_ADVERBS and tok.pos_ not in ("AUX", "CCONJ", "SCONJ"):
        return True  # the first item of a list, whatever the tagger made of it ("I take velrafen, zorafen")
    before = tok.doc[tok.i - 1] if tok.i > 0 else None
    if tok.pos_ in ("ADV", "ADJ", "VERB", "X", "INTJ") and before is not None and before.i == tok.head.i:
        # "I take brirafen": a word the tagger reads as an adverb or an adjective right after a verb
        # that has no object
        return (
            before.pos_ == "VERB"
            and not children(before, "dobj")
            and not list(tok.children)
            and not tok.lower_.endswith("ly")
            and tok.lower_ not in COMMON_ADVERBS
            and tok.is_alpha
        )
    misread = before is not None and (before.pos_ in ("ADP", "DET", "CCONJ", "PUNCT") or before.lower_ == "to")
    misread = misread or (tok.dep_ in ("xcomp", "dobj", "oprd") and not list(tok.children))  # "started prednisone"
    # "allergic to ragweed", "intolerant to zorafen": whatever the tagger made of the word
    after_adjective = before is not None and before.lower_ == "to" and tok.i >= 2 and tok.doc[tok.i - 2].pos_ == "ADJ"
    return tok.pos_ in ("VERB", "ADJ") and (
        after_adjective or (misread and not any(c.dep_ in ("nsubj", "dobj") for c in tok.children))
    )


def _as_well_as(w: Token) -> bool:
    doc = w.doc
    words = [t.lower_ for t in doc[max(w.i - 2, 0) : w.i + 3]]
    return w.lower_ in ("as", "well") and "as well as" in " ".join(words)


def _governor(
    tok: Token, sent: Span, covered: set[str], dates: dict[int, Span], items: set[int]
) -> tuple[Token, str] | None:
    """The verb or adjective an uncovered word is stated after, and the preposition between."""
    prep = ""
    for i in range(tok.i - 1, sent.start - 1, -1):
        w = tok.doc[i]
        if i in items or w.lower_ in _SEPARATORS or _as_well_as(w):
            continue  # the items of one list share their governor
        if w.pos_ == "ADP" or w.lower_ == "to":
            prep = prep or w.lower_
            continue
        if w.pos_ in ("VERB", "AUX") or (w.pos_ == "ADJ" and w.dep_ in ("acomp", "ROOT", "conj")):
            if _candidate(w, covered, dates) and w.pos_ != "AUX":
                continue  # another misread item of the same list
            return w, prep
        if w.pos_ == "PRON" and w.dep_ in ("nsubj", "nsubjpass") and not prep:
            return None  # a new clause began without a verb before the word
    return None


def listed_items(sent: Span, triples: Sequence[Triple]) -> list[Triple]:
    """Items of a list the parse did not attach ("allergic to latex, sulfa and iodine" when the
    small tagger reads "iodine" as a verb): every word the sentence coordinates with an object
    gets that object's relation. An item is a content word after ``,``/``and``/``or``/``plus``/
    ``as well as`` that does not start a clause of its own."""
    out: list[Triple] = []
    have = {(t.subject, t.predicate, t.object.casefold()) for t in triples}
    objects = {(t.subject, t.predicate): t for t in triples if not t.predicate.startswith(("has_", "is_a"))}
    words = [t for t in sent]
    for (subject, pred), t in objects.items():
        head = t.object.split()[-1].casefold()
        starts = [i for i, w in enumerate(words) if w.lower_ == head or w.lemma_.lower() == head]
        for i in starts[:1]:
            j = i + 1
            while j < len(words):
                k = j
                seen = False
                while k < len(words) and (words[k].lower_ in _SEPARATORS or words[k].lower_ in _LIST_SKIP):
                    seen = seen or words[k].lower_ in _SEPARATORS
                    k += 1
                if k + 2 < len(words) and [w.lower_ for w in words[k : k + 3]] == ["as", "well", "as"]:
                    seen, k = True, k + 3
                    while k < len(words) and words[k].lower_ in _LIST_SKIP:
                        k += 1
                if not seen or k >= len(words):
                    break
                item = words[k]
                if (
                    not item.is_alpha
                    or item.is_stop
                    or item.pos_ in ("PRON", "AUX", "ADP", "SCONJ", "DET")
                    or item.dep_ in ("nsubj", "nsubjpass")
                    or any(c.dep_ in ("nsubj", "nsubjpass") for c in item.children)
                    or is_temporal(item)
                ):
                    break
                while (
                    k + 1 < len(words)
                    and words[k + 1].is_alpha
                    and words[k].dep_ in ("compound", "amod")
                    and words[k + 1].pos_ in ("NOUN", "PROPN")
                    and words[k].head.i == words[k + 1].i
                ):
                    k += 1  # "sulfa drugs", "sign language": the head of the item
                item = words[k]
                name = item.text if item.pos_ == "PROPN" or item.text[:1].isupper() else item.lemma_.lower()
                if item.pos_ in ("VERB", "ADJ", "ADV"):  # a noun the tagger misread keeps its surface form
                    name = item.lower_ if not item.text[:1].isupper() else item.text
                key = (subject, pred, name.casefold())
                if key not in have and not any(h[0] == subject and h[1] == pred and name.casefold() in h[2].split()
                                               for h in have):  # fmt: skip
                    have.add(key)
                    out.append(replace(t, object=name, object_type="concept"))
                j = k + 1
    return out


def stated_objects(sent: Span, triples: Sequence[Triple], ctx: Ctx) -> list[Triple]:
    """What the parse left out: a content word the sentence states after a verb, an adjective
    or a preposition and that no triple holds ("allergic to ragweed" when the tagger reads
    "ragweed" as a verb; "an MRI on Wednesday": dates are objects too) becomes an object of
    the nearest verb or adjective before it, with the preposition between them, for that
    verb's subject. Never dropped silently, never a second copy of what a triple holds."""
    covered = {w.casefold() for t in triples for n in (t.subject, t.object) for w in _WORD.findall(n)}
    out: list[Triple] = []
    dates = {t.i: e for e in sent.ents if e.label_ in ("DATE", "TIME") and names_day(e) for t in e}
    dates.update(
        (t.i, sent.doc[t.i : t.i + 1]) for t in sent if t.i not in dates and names_day(sent.doc[t.i : t.i + 1])
    )
    done: set[int] = set()
    items: set[int] = set()  # words this pass made objects: items of one list share a governor
    for v in sent:  # "I take femirix": the tagger made "take" an auxiliary of a verb "femirix"
        fakes = [c for c in children(v, "aux") if c.i == v.i - 1 and c.is_alpha and c.lemma_.lower() not in AUXILIARIES]
        subjects = subjects_of(v, ctx) if v.pos_ == "VERB" and fakes and v.lower_ not in covered else []
        if v.pos_ == "VERB" and fakes and not subjects and v.lower_ not in covered:
            subjects = [e for c in children(fakes[0], "nsubj") if (e := resolve(c, ctx))]
        if subjects:
            neg = is_negated(v)
            out.append(Triple(subjects[0].name, snake("not" if neg else "", lemma(fakes[0])), v.lower_,
                              subjects[0].type, "concept"))  # fmt: skip
            covered.add(v.lower_)
            items.add(v.i)
    for tok in sent:
        if tok.i in done or not _candidate(tok, covered, dates):
            continue
        if any(any(c.dep_ == "mark" and c.lower_ in HYPOTHETICAL for c in a.children) for a in tok.ancestors):
            continue
        found = _governor(tok, sent, covered, dates, items)
        if found is None:
            continue
        verb, prep = found
        clause = verb if verb.pos_ in ("VERB", "AUX") else verb.head
        subjects = subjects_of(clause, ctx) if clause.pos_ in ("VERB", "AUX") else []
        while not subjects and clause.dep_ in ("xcomp", "advcl", "ccomp", "conj") and clause.head is not clause:
            clause = clause.head  # "I go bouldering every Tuesday": the subject of "go"
            subjects = subjects_of(clause, ctx)
        if not subjects:
            continue
        items.add(tok.i)
        neg = is_negated(clause) or no_longer(verb)
        auxiliary = verb.pos_ == "AUX" and verb.lemma_.lower() in AUXILIARIES  # not "take" read as one
        base = "is" if auxiliary or verb.lemma_ == "be" else lemma(verb)
        chain: list[str] = []
        v = verb
        while v.dep_ == "xcomp" and v.head.pos_ == "VERB" and v.head is not v:  # "stopped taking X": stop_take
            chain.insert(0, lemma(v.head))
            v = v.head
        base = snake(*chain, base)
        if chain:
            ctx.stand_ins.add(verb.lower_)  # "stopped taking X": (stop, taking) stood in for X
        date = dates.get(tok.i)
        if date is not None:
            name, kind = date.text, "date"
            done.update(t.i for t in date)
            pred = snake(base, prep or "on")
        else:
            misread = tok.pos_ in ("VERB", "ADJ", "ADV", "PRON", "X", "INTJ")
            name = tok.lower_ if misread else phrase(tok, ctx.ents)
            kind = "concept"
            pred = snake(base, prep) if prep else ("is_a" if base == "is" and tok.pos_ == "NOUN" else base)
        for subj in subjects[:1]:
            if name.casefold() != subj.name.casefold():
                stated = Triple(subj.name, snake("not" if neg else "", pred), name, subj.type, kind)
                out.extend([stated, *owners_view(subj, [stated])])
        covered |= {w.casefold() for w in _WORD.findall(name)}
    return out
