"""From messages to the sentences facts are taken from: which messages count, where a sentence
ends, which sentences say nothing (questions, thanks, fragments), hyphenated words as one token,
and the lists people paste under a label ("Allergies: shellfish, kiwi").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from spacy.tokens import Doc, Span

from recalld.kernel.domain import ChatMessage

PHATIC = frozenset({"thank", "thanks", "hello", "hi", "hey", "bye", "goodbye", "congrats", "congratulation"})

# Lists under a label ("Meds: metformin, ramipril"): the statement each label stands for.
LABELS = {
    "allergies": "I'm allergic to {}.", "allergic to": "I'm allergic to {}.", "allergy": "I'm allergic to {}.",
    "medications": "I take {}.", "medication": "I take {}.", "meds": "I take {}.", "medicines": "I take {}.",
    "current meds": "I take {}.", "prescriptions": "I take {}.", "conditions": "I have {}.",
    "diagnoses": "I have {}.", "hobbies": "I enjoy {}.", "interests": "I enjoy {}.", "languages": "I speak {}.",
    "kids": "My kids are {}.", "children": "My children are {}.", "pets": "My pets are {}.",
}  # fmt: skip

LABELLED = re.compile(
    r"^\s*(?P<label>" + "|".join(sorted(LABELS, key=len, reverse=True)) + r")\s*[:\-–—]\s*(?P<items>\S.*)$", re.I
)


def distilled(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The messages facts are taken from: user messages and any with a name, not empty."""
    return [m for m in messages if (m.name or m.role.lower() == "user") and m.content.strip()]


def split_sentences(doc: Doc) -> Iterator[Span]:
    """spaCy's sentences, also split after ``. ! ?`` before a capital ("Hi! I live...")."""
    for sent in doc.sents:
        start = sent.start
        for t in sent[1:]:
            if t.i > start + 1 and doc[t.i - 1].text in (".", "!", "?") and t.text[:1].isupper():
                yield doc[start : t.i]
                start = t.i
        yield doc[start : sent.end]


def is_trivial(sent: Span) -> bool:
    """Questions, sentences under 3 words, verbless fragments and thanks."""
    words = sum(
        t.is_alpha or t.like_num or t.lower_.replace("'", "").replace("’", "").replace("-", "").isalpha() for t in sent
    )
    if sent.text.strip().endswith("?") or words < 3:
        return True
    verbs = [t for t in sent if t.pos_ in ("VERB", "AUX")]
    return not verbs or sent.root.lemma_.lower() in PHATIC


def join_hyphens(doc: Doc) -> None:
    """One token for a hyphenated word ("half-brother", "left-handed", "co-founder"): its parse
    is its last part's, its lemma the parts with the last one's lemma."""
    spans: list[tuple[int, int]] = []
    i = 1
    while i < len(doc) - 1:
        t = doc[i]
        if t.text == "-" and not doc[i - 1].whitespace_ and not t.whitespace_ and doc[i + 1].is_alpha:
            start = spans.pop()[0] if spans and spans[-1][1] == i else i - 1
            spans.append((start, i + 2))
            i += 2
            continue
        i += 1
    if not spans:
        return
    try:
        with doc.retokenize() as r:
            for start, end in spans:
                span = doc[start:end]
                last = doc[end - 1]
                lemma_ = (span.text[: len(span.text) - len(last.text)] + last.lemma_).lower()
                r.merge(span, attrs={"LEMMA": lemma_, "POS": last.pos_, "TAG": last.tag_})
    except ValueError:  # a span the entity recognizer cut through: keep the parse as it is
        return
