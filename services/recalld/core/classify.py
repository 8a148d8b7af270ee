"""The fallback for predicates the relation table (recalld.kernel.slots) does not list.

An unknown predicate's phrase ("recruit by") is embedded with the service's embedder and
compared with the ``examples`` of each single-valued class; at or above ``threshold`` (cosine) it
is taken as that class. Answers are cached per predicate (bounded), so a predicate costs one
embedding the first time the process sees it and a dictionary lookup afterwards. Multi-valued
classes are never offered: a wrong single-valued guess would retire a fact, and a wrong
multi-valued one would change nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

import numpy as np

from recalld.core.reconcile import bare
from recalld.core.settings import ReconcileSettings
from recalld.kernel import slots
from recalld.kernel.ports import Embedder

_SKIP_PREFIXES = ("has_", "is_", "not_")  # descriptions and copulas: the extractor names their slots
_SKIP = frozenset(
    {
        "is",
        "is_a",
        "have",
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


class SlotFallback:
    def __init__(self, embedder: Embedder, settings: ReconcileSettings, max_cached: int = 4096) -> None:
        self._embedder = embedder
        self._settings = settings
        self._threshold = settings.slot_similarity
        self._cache: OrderedDict[str, str | None] = OrderedDict()
        self._max = max_cached
        self._examples: tuple[list[str], np.ndarray] | None = None

    def _eligible(self, predicate: str) -> bool:
        return (
            predicate not in self._settings.equivalents
            and predicate not in self._settings.single_valued
            and slots.named_class(predicate) is None
            and slots.favourite(predicate) is None
            and predicate not in _SKIP
            and not predicate.startswith(_SKIP_PREFIXES)
            and predicate not in slots.ENDING_VERBS
        )

    async def learn(self, predicates: Iterable[str]) -> Mapping[str, str]:
        """predicate (bare) -> class, for those of ``predicates`` the fallback places in a class."""
        wanted = {bare(p) for p in predicates}
        unknown = [p for p in sorted(wanted) if self._eligible(p) and p not in self._cache]
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
            c = self._cache.get(p)
            if c is not None:
                out[p] = c
        return out

    async def _example_vectors(self) -> tuple[list[str], np.ndarray]:
        if self._examples is None:
            pairs = [(c.name, e) for c in slots.CLASSES if c.single and c.name in self._settings.single_valued
                     for e in c.examples]  # fmt: skip
            vectors = await self._embedder.embed([e for _, e in pairs])
            self._examples = ([n for n, _ in pairs], np.asarray(vectors, dtype=np.float32))
        return self._examples
