"""The LLM path against recorded server answers: the real ``openai`` client over an httpx mock
transport that replays what real servers and weak models send (well-formed, fenced, truncated,
schema-violating, refused formats, 5xx, timeouts), then parsing, validation, repair, format
fallback, the extractor's checks and spaCy fallback, and the judge's index checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from recalld.core.settings import JudgeKind
from recalld.extraction.spacy import SpacyExtractor
from recalld.kernel.domain import ChatMessage
from recalld.kernel.ports import JudgeCase
from recalld.llm.extractor import LLMExtraction, LLMExtractor
from recalld.llm.judge import LLMJudge, LLMVerdicts
from recalld.llm.structured import (
    LLMFailure,
    LLMSettings,
    ResponseFormat,
    StructuredClient,
    parse_json,
    repair_json,
)
from recalld.server.config import ExtractorKind
from recalld.server.environment import load_settings

Reply = tuple[int, Any]  # status, body (a chat answer's content string, or a raw JSON body)


def completion(content: str, finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
    }


class Server:
    """Replays ``replies`` in order and records every request body."""

    def __init__(self, *replies: Reply | Callable[[httpx.Request], httpx.Response]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content))
        if not self.replies:
            raise AssertionError("more requests than recorded replies")
        reply = self.replies.pop(0)
        if callable(reply):
            return reply(request)
        status, body = reply
        if status == 200 and isinstance(body, str):
            body = completion(body)
        return httpx.Response(status, json=body)


def client(server: Server, **kw: Any) -> StructuredClient:
    settings = LLMSettings(model="gemma-test", **{"max_retries": 0, "max_repairs": 1, **kw})
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return StructuredClient(
        openai.AsyncOpenAI(api_key="k", base_url="http://llm/v1", http_client=http, max_retries=settings.max_retries),
        settings,
    )


class Pet(BaseModel):
    name: str
    legs: int


async def test_a_schema_answer_is_validated() -> None:
    server = Server((200, '{"name": "Luna", "legs": 4}'))
    llm = client(server)
    assert await llm.ask("sys", "q", Pet) == Pet(name="Luna", legs=4)
    sent = server.requests[0]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["required"] == ["name", "legs"]
    assert sent["model"] == "gemma-test" and sent["temperature"] == 0.0


async def test_refused_formats_step_down_for_good() -> None:
    refused = (400, {"error": {"message": "response_format json_schema is not supported", "type": "invalid_request"}})
    refused_json = (400, {"error": {"message": "Unsupported response_format type json_object"}})
    server = Server(
        refused, refused_json, (200, 'Sure! {"name": "Rex", "legs": 3}'), (200, '{"name": "Bo", "legs": 2}')
    )
    llm = client(server)
    assert (await llm.ask("sys", "q", Pet)).name == "Rex"
    assert [r.get("response_format", {}).get("type") for r in server.requests] == ["json_schema", "json_object", None]
    # Without a server-enforced schema the model is shown the schema in the system prompt.
    assert '"legs"' in server.requests[2]["messages"][0]["content"]
    assert llm.response_format is ResponseFormat.PLAIN and llm.stats["format_downgrades"] == 2
    await llm.ask("sys", "q", Pet)
    assert "response_format" not in server.requests[3]  # remembered


async def test_an_unrelated_bad_request_is_a_failure_not_a_downgrade() -> None:
    llm = client(Server((400, {"error": {"message": "model not found"}})))
    with pytest.raises(LLMFailure, match="refused the request"):
        await llm.ask("sys", "q", Pet)
    assert llm.response_format is ResponseFormat.JSON_SCHEMA


@pytest.mark.parametrize(
    "answer",
    [
        '```json\n{"name": "Luna", "legs": 4}\n```',
        'Here is the JSON: {"name": "Luna", "legs": 4} Hope this helps!',
        '{"name": "Luna", "legs": 4',  # truncated: closed by repair
        '{"name": "Luna", "legs": 4, "extra',  # truncated inside a key
    ],
)
async def test_what_weak_models_send_still_parses(answer: str) -> None:
    assert await client(Server((200, answer))).ask("sys", "q", Pet) == Pet(name="Luna", legs=4)


async def test_an_invalid_answer_is_shown_back_and_repaired() -> None:
    server = Server((200, '{"name": "Luna", "legs": "four"}'), (200, '{"name": "Luna", "legs": 4}'))
    llm = client(server)
    assert (await llm.ask("sys", "q", Pet)).legs == 4
    retry = server.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": '{"name": "Luna", "legs": "four"}'}
    assert "legs" in retry[-1]["content"] and "invalid" in retry[-1]["content"]
    assert (llm.stats["invalid"], llm.stats["repairs"]) == (1, 1)


async def test_the_repair_budget_ends_in_a_failure() -> None:
    llm = client(Server((200, "I cannot help with that."), (200, "{not json at all")))
    with pytest.raises(LLMFailure, match="no valid answer after 2 attempts"):
        await llm.ask("sys", "q", Pet)
    assert llm.stats["failures"] == 1


async def test_server_errors_are_retried_by_the_client_then_fail() -> None:
    server = Server(
        (500, {"error": {"message": "boom"}}), (503, {"error": {"message": "busy"}}), (200, '{"name": "A", "legs": 1}')
    )
    assert (await client(server, max_retries=2).ask("sys", "q", Pet)).name == "A"
    down = Server(*[(500, {"error": {"message": "boom"}})] * 3)
    with pytest.raises(LLMFailure, match="InternalServerError"):
        await client(down, max_retries=2).ask("sys", "q", Pet)


async def test_a_timeout_is_a_failure() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(LLMFailure, match="APITimeoutError"):
        await client(Server(hang)).ask("sys", "q", Pet)


def test_repair_closes_truncated_json() -> None:
    assert json.loads(repair_json('{"a": [1, 2, {"b": "x')) == {"a": [1, 2, {"b": "x"}]}
    assert json.loads(repair_json('{"a": 1, "b":')) == {"a": 1}
    assert json.loads(repair_json('{"a": [1, 2,')) == {"a": [1, 2]}
    assert json.loads(repair_json('{"a": "say \\"hi')) == {"a": 'say "hi'}
    with pytest.raises(ValueError, match="no JSON object"):
        parse_json("nothing here")
    assert parse_json('[1, {"a": 1}] and more') == {"a": 1}  # the first object in the answer


# -- the extractor ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spacy() -> SpacyExtractor:
    return SpacyExtractor()


def extraction(*facts: dict[str, Any]) -> str:
    return json.dumps({"facts": list(facts)})


GOOD = extraction(
    {
        "text": "I'm allergic to penicillin.",
        "triples": [{"subject": "I", "predicate": "Allergic To", "object": "penicillin"}],
        "attributes": [{"name": "allergies", "value": "penicillin"}],
    },
    {
        "text": "My dog Rex has a cold.",  # copied from the worked example: not in the messages
        "triples": [{"subject": "alice", "predicate": "has_pet", "object": "Rex"}],
        "attributes": [{"name": "pets", "value": "Rex (dog)"}],
    },
    {"text": "I stopped smoking last year.", "triples": [], "time": "last year", "ended": True},
)


async def test_answers_become_checked_facts(spacy: SpacyExtractor) -> None:
    server = Server((200, GOOD))
    ex = LLMExtractor(client(server), spacy)
    msgs = [ChatMessage("user", "I'm allergic to penicillin and I stopped smoking last year.")]
    facts = await ex.extract(msgs, default_speaker="alice", reference_time=datetime(2024, 5, 20, tzinfo=UTC))
    # "My dog Rex has a cold." is the worked example, not what was said: dropped
    assert [f.text for f in facts] == ["I'm allergic to penicillin.", "I stopped smoking last year."]
    (t,) = facts[0].triples
    assert (t.subject, t.predicate, t.object) == ("alice", "allergic_to", "penicillin")
    assert [(a.name, a.value) for a in facts[0].attributes] == [("allergies", "penicillin")]
    assert facts[1].hints == {"time": "last year", "cessation": "true"}
    assert ex.stats["ungrounded_facts"] == 1
    question = server.requests[0]["messages"][-1]["content"]
    assert "Reference time: 2024-05-20" in question and "[alice] I'm allergic" in question
    assert len(server.requests[0]["messages"]) == 4  # system, worked example (user, assistant), question


async def test_a_failed_answer_falls_back_to_spacy(spacy: SpacyExtractor) -> None:
    ex = LLMExtractor(client(Server((200, "no idea"), (200, '{"facts": [{"txt": 1}]}'))), spacy)
    facts = await ex.extract([ChatMessage("user", "I'm allergic to penicillin.")], default_speaker="alice")
    assert [(t.subject, t.predicate, t.object) for f in facts for t in f.triples] == [
        ("alice", "allergic_to", "penicillin")
    ]
    assert ex.stats["fallback_failure"] == 1


async def test_an_empty_answer_for_real_content_falls_back(spacy: SpacyExtractor) -> None:
    ex = LLMExtractor(client(Server((200, '{"facts": []}'), (200, '{"facts": []}'))), spacy)
    facts = await ex.extract([ChatMessage("user", "My sister Anna lives in Rome.")], default_speaker="alice")
    assert facts and ex.stats["fallback_empty"] == 1
    assert await ex.extract([ChatMessage("user", "Hi there!")], default_speaker="alice") == []  # small talk: fine


async def test_long_adds_are_split_and_an_unreachable_server_loses_nothing(spacy: SpacyExtractor) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    server = Server(down, down)
    ex = LLMExtractor(client(server), spacy)
    msgs = [ChatMessage("user", f"I visited museum number {i} in Paris.") for i in range(12)]
    facts = await ex.extract(msgs, default_speaker="alice")
    assert len(server.requests) == 2 and ex.stats["fallback_failure"] == 2  # 8 + 4 messages
    assert len(facts) == 12


def test_the_extraction_schema_is_what_servers_enforce() -> None:
    schema = LLMExtraction.model_json_schema()
    assert schema["required"] == ["facts"]
    assert set(schema["$defs"]["LLMFact"]["properties"]) == {
        "text",
        "triples",
        "attributes",
        "time",
        "ended",
        "correction",
    }


# -- the judge --------------------------------------------------------------------------------------------


async def test_the_judge_sees_indices_and_rejects_unknown_ones() -> None:
    answer = json.dumps(
        {
            "decisions": [
                {"fact": 0, "action": "INVALIDATE", "memory": 1},
                {"fact": 1, "action": "NOOP", "memory": 0},  # index 0 belongs to fact 0: rejected
                {"fact": 2, "action": "UPDATE", "memory": 3, "text": "Luna is a Persian."},
                {"fact": 3, "action": "NOOP", "memory": 99},  # never shown
                {"fact": 9, "action": "ADD"},  # no such fact
            ]
        }
    )
    server = Server((200, answer))
    judge = LLMJudge(client(server))
    cases = [
        JudgeCase("I moved to Paris.", ("I live in Berlin.", "I live in Rome.")),
        JudgeCase("I like tea.", ("I love tea.",)),
        JudgeCase("Luna is a Persian, not a Siamese.", ("Luna is a Siamese.",)),
        JudgeCase("I run daily.", ("I jog every day.",)),
    ]
    verdicts = await judge.judge(cases)
    assert [(v.action, v.candidate, v.text) if v else None for v in verdicts] == [
        ("invalidate", 1, ""),
        None,
        ("update", 0, "Luna is a Persian."),
        None,
    ]
    prompt = server.requests[0]["messages"][-1]["content"]
    assert "[0] I live in Berlin." in prompt and "[2] I love tea." in prompt and "[3] Luna is a Siamese." in prompt
    assert judge.stats["rejected"] == 3


async def test_a_failing_judge_leaves_the_rules_in_charge() -> None:
    judge = LLMJudge(client(Server((200, "??"), (200, "??"))))
    assert await judge.judge([JudgeCase("a b c", ("d e f",))]) == [None]
    assert LLMVerdicts.model_json_schema()["required"] == ["decisions"]


# -- configuration --------------------------------------------------------------------------------------


def test_llm_settings_from_the_environment(tmp_path: Any) -> None:
    key = tmp_path / "key"
    key.write_text("sk-secret\n")
    s = load_settings(
        {
            "RECALLD_EXTRACTOR": "llm",
            "RECALLD_TRUTH_JUDGE": "LLM",
            "RECALLD_LLM_BASE_URL": "http://127.0.0.1:8080/v1",
            "RECALLD_LLM_MODEL": "gemma",
            "RECALLD_LLM_API_KEY_FILE": str(key),
            "RECALLD_LLM_RESPONSE_FORMAT": "json_object",
            "RECALLD_LLM_CONCURRENCY": "2",
        }
    )
    assert (s.extractor, s.truth.judge, s.llm.response_format, s.llm.concurrency) == (
        ExtractorKind.LLM,
        JudgeKind.LLM,
        ResponseFormat.JSON_OBJECT,
        2,
    )
    assert s.llm.key() == "sk-secret" and "sk-secret" not in repr(s)
    assert LLMSettings(api_key="sk-x").key() == "sk-x" and "sk-x" not in repr(LLMSettings(api_key="sk-x"))
    with pytest.raises(ValueError, match="RECALLD_LLM_RESPONSE_FORMAT"):
        load_settings({"RECALLD_LLM_RESPONSE_FORMAT": "xml"})
    with pytest.raises(ValueError, match="cannot be read"):
        LLMSettings(api_key_file=str(tmp_path / "missing")).key()
