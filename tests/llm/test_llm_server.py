"""The LLM path against a real OpenAI-compatible server running a real (weak) model: Gemma 3
270M on llama.cpp's llama-server. What must hold whatever the model answers: structured output
is negotiated and validated, an Add of a short conversation yields valid memories or falls back
to spaCy, never raises to the client and never loses a message, the judge never names a memory it
was not shown, and embeddings come back at the configured dimension."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from recalld.core.settings import JudgeKind, ReconcileSettings
from recalld.extraction.spacy import SpacyExtractor
from recalld.kernel.domain import ChatMessage, EventKind, Scope
from recalld.kernel.errors import Unavailable
from recalld.kernel.ports import JudgeCase
from recalld.kernel.requests import AddCommand, SearchQuery
from recalld.llm.extractor import LLMExtractor
from recalld.llm.judge import LLMJudge
from recalld.llm.structured import LLMSettings, ResponseFormat, StructuredClient, make_client
from recalld.server.app import build_app
from recalld.server.config import ExtractorKind, Settings
from recalld.vector.embedders import MiniLMOnnxEmbedder
from recalld.vector.openai_embedder import OpenAIEmbedder
from tests.harness import LlamaServer

pytestmark = [pytest.mark.llm, pytest.mark.slow]

CONVERSATION = [
    "Hi! I just moved to Lisbon with my wife Ana.",
    "I'm allergic to penicillin, so my doctor gave me azithromycin.",
    "My cat Luna hates the new flat.",
    "I started running 5 km every morning.",
]


_CLIENTS: list[Any] = []  # the HTTP clients a test made, closed after it


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while _CLIENTS:
        await _CLIENTS.pop().close()


def client_for(settings: LLMSettings) -> Any:
    client = make_client(settings)
    _CLIENTS.append(client)
    return client


def structured(llama: LlamaServer, **kw: object) -> StructuredClient:
    settings = LLMSettings(base_url=llama.base_url, model="gemma-3-270m", timeout_s=60, **kw)  # type: ignore[arg-type]
    return StructuredClient(client_for(settings), settings)


ITALY = '{"city": "Rome", "country": "Italy"}'


class City(BaseModel):
    city: str
    country: str


async def test_the_server_takes_a_json_schema_and_answers_valid_json(llama: LlamaServer) -> None:
    llm = structured(llama, max_repairs=2)
    answer = await llm.ask(
        "Answer the question as JSON.",
        "Which city is the capital of France, and in which country is it?",
        City,
        examples=[
            ("Which city is the capital of Italy, and in which country is it?", '{"city": "Rome", "country": "Italy"}')
        ],
    )
    assert answer.city and answer.country
    assert llm.response_format is ResponseFormat.JSON_SCHEMA and llm.stats["format_downgrades"] == 0


async def test_llm_extraction_yields_facts_or_falls_back_and_loses_nothing(llama: LlamaServer) -> None:
    ex = LLMExtractor(structured(llama), SpacyExtractor())
    for text in CONVERSATION:
        facts = await ex.extract([ChatMessage("user", text)], default_speaker="dana")
        assert facts, f"no fact for {text!r}"
        for f in facts:
            assert f.text.strip()
            for t in f.triples:
                assert t.subject and t.predicate == t.predicate.lower() and t.object
    assert ex.stats["calls"] == len(CONVERSATION)
    print(dict(ex.stats))  # shown with -s: calls, facts, fallbacks by reason


async def test_an_add_through_the_llm_path_never_fails(llama: LlamaServer, tmp_path: Path) -> None:
    settings = replace(
        Settings(),
        data_dir=tmp_path / "data",
        reconcile_interval_s=0.0,
        extractor=ExtractorKind.LLM,
        truth=ReconcileSettings(judge=JudgeKind.LLM),
        llm=LLMSettings(base_url=llama.base_url, model="gemma-3-270m", timeout_s=60),
    )
    app = build_app(settings, embedder=MiniLMOnnxEmbedder())
    await app.start()
    try:
        scope = Scope("dana")
        events = []
        for text in CONVERSATION:
            _, got = await app.memories.add(AddCommand(scope, [ChatMessage("user", text)]))
            events += got
        assert events and all(e.event in (EventKind.ADD, EventKind.NOOP, EventKind.UPDATE, EventKind.INVALIDATE)
                              for e in events)  # fmt: skip
        listed, _ = await app.memories.list_memories(scope)
        assert listed and all(m.text.strip() for m in listed)
        hits = await app.retriever.search(SearchQuery(scope, "what is Dana allergic to?"))
        assert hits
    finally:
        await app.close()


async def test_an_unreachable_llm_server_falls_back_to_spacy(tmp_path: Path) -> None:
    settings = replace(
        Settings(),
        data_dir=tmp_path / "data",
        reconcile_interval_s=0.0,
        extractor=ExtractorKind.LLM,
        llm=LLMSettings(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=2, max_retries=0),
    )
    app = build_app(settings, embedder=MiniLMOnnxEmbedder())
    await app.start()
    try:
        _, events = await app.memories.add(
            AddCommand(Scope("erin"), [ChatMessage("user", "I'm allergic to penicillin.")])
        )
        (event,) = events
        assert [(t.subject, t.predicate, t.object) for t in event.memory.triples] == [
            ("erin", "allergic_to", "penicillin")
        ]
    finally:
        await app.close()


async def test_the_judge_names_only_memories_it_was_shown(llama: LlamaServer) -> None:
    judge = LLMJudge(structured(llama))
    cases = [
        JudgeCase("I moved to Lisbon.", ("I live in Berlin.", "I like jazz.")),
        JudgeCase("I am allergic to penicillin.", ("I'm allergic to penicillin.",)),
    ]
    verdicts = await judge.judge(cases)
    assert len(verdicts) == 2
    for case, v in zip(cases, verdicts, strict=True):
        assert v is None or v.action == "add" or (v.candidate is not None and 0 <= v.candidate < len(case.candidates))
    print(dict(judge.stats))


async def test_embeddings_from_the_endpoint_at_the_configured_dimension(llama_embeddings: LlamaServer) -> None:
    client = client_for(LLMSettings(base_url=llama_embeddings.base_url, timeout_s=60))
    embedder = OpenAIEmbedder(client, model="gemma-3-270m", dim=640)
    vectors = await embedder.embed(["I live in Lisbon.", "My cat is called Luna.", "I live in Porto."])
    assert vectors.shape == (3, 640)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4
    wrong = OpenAIEmbedder(client, model="gemma-3-270m", dim=384)
    with pytest.raises(Unavailable, match="640-dimensional vectors; RECALLD_EMBEDDING_DIM is 384"):
        await wrong.embed(["x"])
