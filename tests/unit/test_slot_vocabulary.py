"""The precomputed slot vocabulary (bench.slot_vocabulary) matches the classes and threshold it
was computed for, and spares the Add path an embedding for the verbs it holds."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from recalld.core.classify import SlotFallback, fingerprint
from recalld.core.settings import ReconcileSettings
from recalld.kernel import slots
from recalld.kernel.domain import Triple


def test_the_vocabulary_was_generated_for_the_shipped_classes_and_threshold() -> None:
    data = json.loads(slots.VOCABULARY.read_text())
    assert data["fingerprint"] == fingerprint(ReconcileSettings()), "run `python -m bench.slot_vocabulary`"
    assert len(data["verbs"].split()) > 5000
    assert set(data["placed"].values()) <= slots.single_valued()


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    @property
    def dim(self) -> int:
        return 4

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.eye(4, dtype=np.float32)[[0] * len(texts)]


async def test_verbs_of_the_vocabulary_cost_no_embedding_and_others_do() -> None:
    data = json.loads(slots.VOCABULARY.read_text())
    placed, cls = next(iter(data["placed"].items()))
    embedder = Counting()
    fallback = SlotFallback(embedder, ReconcileSettings())
    assert await fallback.learn([Triple("bob", placed, "Capgemini"), Triple("bob", "paint_at", "Tate")]) == {
        placed: cls
    }
    assert embedder.calls == 0
    await fallback.learn([Triple("bob", "zorbify_at", "Tate")])  # not an English verb: embedded live
    assert embedder.calls > 0
