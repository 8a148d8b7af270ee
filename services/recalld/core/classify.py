"""The fallback for predicates the relation table (recalld.kernel.slots) does not list.

An unknown predicate's phrase ("recruit by") is embedded with the service's embedder and
compared with the ``examples`` of each single-valued class; at or above ``threshold`` (cosine) it
is taken as that class. Answers are cached per predicate (bounded), so a predicate costs one
embedding the first time the process sees it and a dictionary lookup afterwards. Multi-valued
classes are never offered: a wrong single-valued guess would retire a fact, and a wrong
multi-valued one would change nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping

import numpy as np

from recalld.core.relation_slots import bare
from recalld.core.settings import ReconcileSettings
from recalld.kernel import slots
from recalld.kernel.domain import Triple
from recalld.kernel.ports import Embedder

_PREPOSITION = re.compile(r"_(?:at|in|for|by|to|with|as|from|on)$")
# descriptions and copulas (the extractor names their slots) and reactions (allergic to: many values)
_SKIP_PREFIXES = ("has_", "is_", "not_", "allergic_", "intolerant_", "sensitive_")
_SKIP = frozenset(
    {
        "is",
        "is_a",
        "have",
        "has",
        "be",
        "do",
        "get",
        "go",
        "make",
        "say",
        "tell",
        "think",
        "want",
        "need",
        "email",
        "text",
        "call",
        "phone",
        "message",
        "study",
        "learn",
    }
)  # fmt: skip  (communication verbs sit close to contact details; studying a subject is not a school)


PREPOSITIONS = ("at", "in", "for", "by", "to", "with", "as", "from", "on")


def fingerprint(settings: ReconcileSettings) -> str:
    """What the precomputed vocabulary's placements depend on: the classes' examples, the threshold
    and the prepositions (the skips apply when it is read, so new ones need no regeneration)."""
    single = sorted((c.name, c.examples) for c in slots.CLASSES if c.single and c.name in settings.single_valued)
    basis = json.dumps([single, settings.slot_similarity, PREPOSITIONS])
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def _base(word: str, verbs: frozenset[str]) -> str:
    """The verb a participle comes from ("registered" -> "register", "transferred" -> "transfer",
    "hired" -> "hire"), when the vocabulary has it; else the word."""
    if word in verbs or not word.endswith("ed"):
        return word
    stem = word[:-2]
    for guess in (stem, stem + "e", stem[:-1], stem[:-1] + "y" if stem.endswith("i") else ""):
        if guess and guess in verbs:
            return guess
    return word


class SlotFallback:
    def __init__(
        self, embedder: Embedder, settings: ReconcileSettings, max_cached: int = 4096, *, vocabulary: bool = True
    ) -> None:
        """``vocabulary``: answer the verbs of the precomputed vocabulary (bench.slot_vocabulary)
        from it, when it was computed for these settings; the others are embedded live."""
        self._embedder = embedder
        self._settings = settings
        self._threshold = settings.slot_similarity
        self._cache: OrderedDict[str, str | None] = OrderedDict()
        self._max = max_cached
        self._examples: tuple[list[str], np.ndarray] | None = None
        self._verbs: frozenset[str] = frozenset()
        self._placed: dict[str, str] = {}
        if vocabulary and slots.VOCABULARY.exists():
            data = json.loads(slots.VOCABULARY.read_text())
            if data.get("fingerprint") == fingerprint(settings):
                self._verbs = frozenset(data["verbs"].split())
                self._placed = dict(data["placed"])

    def _vocabulary_form(self, predicate: str) -> str | None:
        """``predicate`` as the vocabulary has it (a verb, or a verb and a preposition; a participle
        by its verb), or None when it is not a one-verb predicate the vocabulary holds."""
        verb, _, prep = predicate.partition("_")
        verb = _base(verb, self._verbs)
        if verb not in self._verbs or (prep and prep not in PREPOSITIONS):
            return None
        return f"{verb}_{prep}" if prep else verb

    def _known(self, predicate: str) -> bool:
        """Answered without an embedding: a one-verb predicate of the vocabulary, or a chain of
        verbs ("love_live_in": an attitude to a slot, never the slot) or no verb at all."""
        if not self._verbs:
            return False
        words = predicate.split("_")
        chained = len([w for w in words if w not in PREPOSITIONS]) > 1
        return chained or self._vocabulary_form(predicate) is not None or all(w in PREPOSITIONS for w in words)

    def eligible(self, predicate: str) -> bool:
        """Whether the fallback may place ``predicate`` at all (not in the table, not skipped)."""
        return (
            predicate not in self._settings.equivalents
            and predicate not in self._settings.single_valued
            and slots.named_class(predicate) is None
            and slots.favourite(predicate) is None
            and predicate not in _SKIP
            and predicate.split("_")[0] not in _SKIP
            and not predicate.startswith(_SKIP_PREFIXES)
            and predicate not in slots.ENDING_VERBS
        )

    async def learn(self, triples: Iterable[Triple]) -> Mapping[str, str]:
        """predicate (bare) -> class, for the predicates of ``triples`` the fallback places in a
        class. A predicate is looked at when it could hold a slot's value: its object is a name
        ("recruited by Capgemini") or follows a preposition ("employed at a bakery"); the others
        ("love painting") cost nothing."""
        triples = list(triples)
        wanted = {bare(t.predicate) for t in triples}
        valued = {bare(t.predicate) for t in triples if t.object[:1].isupper() or _PREPOSITION.search(t.predicate)}
        unknown = [p for p in sorted(valued) if self.eligible(p) and p not in self._cache and not self._known(p)]
        if unknown:
            names, examples = await self._example_vectors()
            vectors = await self._embedder.embed([slots.phrase(p) for p in unknown])
            scores = vectors @ examples.T
            for p, row in zip(unknown, scores, strict=True):
                best = int(np.argmax(row))
                self._cache[p] = names[best] if float(row[best]) >= self._threshold else None
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        out: dict[str, str] = {}
        for p in wanted:
            form = self._vocabulary_form(p) if self._verbs else None
            c = (self._placed.get(form) if form else None) or self._cache.get(p)
            if c is not None and self.eligible(p):
                out[p] = c
        return out

    async def _example_vectors(self) -> tuple[list[str], np.ndarray]:
        if self._examples is None:
            pairs = [(c.name, e) for c in slots.CLASSES if c.single and c.name in self._settings.single_valued
                     for e in c.examples]  # fmt: skip
            vectors = await self._embedder.embed([e for _, e in pairs])
            self._examples = ([n for n, _ in pairs], np.asarray(vectors, dtype=np.float32))
        return self._examples
