"""What a search query is about: the entities it names (the speaker for the first person, proper
nouns, possessed or named noun phrases, each named as the extractor names it, so that "my sister"
finds "alice's sister") and its terms (the non-stop lemmas of its nouns, verbs and adjectives).
"""

from __future__ import annotations

from spacy.tokens import Doc

from recalld.extraction.entities import Ctx, resolve
from recalld.extraction.words import FIRST_PERSON, children, lemma
from recalld.kernel.domain import QueryAnalysis

CONTENT_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ"})


def query_analysis(doc: Doc, speaker: str) -> QueryAnalysis:
    """The entities and terms of a parsed query asked by ``speaker``."""
    ctx = Ctx(speaker, {}, {})
    entities: list[str] = []
    for t in doc:
        named = t.pos_ == "PROPN" and t.dep_ not in ("compound", "appos")
        if (t.pos_ == "PRON" and t.lower_ in FIRST_PERSON) or named or children(t, "poss"):
            ent = resolve(t, ctx)
            entities.extend([ent.name] if ent else [])
    terms = [lemma(t) for t in doc if t.pos_ in CONTENT_POS and not t.is_stop and t.is_alpha]
    return QueryAnalysis(entities=tuple(dict.fromkeys(entities)), terms=tuple(dict.fromkeys(terms)))
