"""Structured answers from an OpenAI-compatible chat server that survive real servers and models.

One question -> one validated pydantic object, or :class:`LLMFailure` once the budget is spent
(callers fall back; nothing is lost):

1. Response format, negotiated once per process: a JSON schema where the server accepts it, else
   JSON mode, else plain prompting ("answer with JSON only"). A server that rejects a format
   (HTTP 400 naming it) moves the client down a step for good; a server that ignores it is caught
   by step 2.
2. Parsing tolerates what weak models do: code fences, prose around the object, a truncated
   answer (open strings and brackets are closed, a dangling comma or key dropped).
3. Validation against the schema (pydantic). An invalid answer is shown back to the model with
   the first errors and asked again, ``max_repairs`` times.
4. Transport: the ``openai`` client's own timeout and retries with exponential backoff (timeouts,
   connection errors, 429, 5xx), and a concurrency limit across the process.

Nothing logged at info level carries the API key or user content: counts and error kinds only
(the prompt and the answer are logged at debug level).
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import openai
from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


class ResponseFormat(enum.StrEnum):
    AUTO = "auto"  # json_schema, falling back as the server requires
    JSON_SCHEMA = "json_schema"
    JSON_OBJECT = "json_object"
    PLAIN = "plain"


_DOWNGRADE = {
    ResponseFormat.JSON_SCHEMA: ResponseFormat.JSON_OBJECT,
    ResponseFormat.JSON_OBJECT: ResponseFormat.PLAIN,
}


@dataclass(frozen=True, slots=True)
class LLMSettings:
    """The OpenAI-compatible chat endpoint (RECALLD_LLM_*)."""

    base_url: str = field(
        default="",
        metadata={
            "doc": "the chat endpoint, e.g. `http://127.0.0.1:8080/v1` (llama.cpp, vLLM, Ollama); empty: api.openai.com"
        },
    )
    model: str = field(
        default="",
        metadata={"doc": "the chat model; required when `RECALLD_EXTRACTOR=llm` or `RECALLD_TRUTH_JUDGE=llm`"},
    )
    api_key: str = field(
        default="",
        repr=False,
        metadata={"doc": "the API key (empty: none, for local servers that want none); never printed"},
    )
    api_key_file: str = field(
        default="", metadata={"doc": "a file holding the API key (a mounted secret); wins over the key itself"}
    )
    response_format: ResponseFormat = field(
        default=ResponseFormat.AUTO,
        metadata={
            "doc": "`auto`: a JSON schema, stepping down to JSON mode and then plain prompting as the server "
            "requires (the step down is remembered); `json_schema`, `json_object` or `plain` skip the negotiation"
        },
    )
    timeout_s: float = field(default=60.0, metadata={"doc": "seconds per request"})
    max_retries: int = field(
        default=2,
        metadata={"doc": "transport retries with exponential backoff (timeouts, connection errors, 429, 5xx)"},
    )
    max_repairs: int = field(default=1, metadata={"doc": "re-asks after an answer that does not parse or validate"})
    concurrency: int = field(default=4, metadata={"doc": "requests in flight at once, process-wide"})
    max_tokens: int = field(
        default=1024, metadata={"doc": "most tokens an answer may have (`max_tokens` of each request)"}
    )
    temperature: float = field(
        default=0.0, metadata={"doc": "sampling temperature of each request (0: the most likely tokens)"}
    )

    def key(self) -> str:
        """The API key: from ``api_key_file`` when set, else ``api_key``; "none" for local servers
        that want no key (the client library insists on one)."""
        if self.api_key_file:
            try:
                return Path(self.api_key_file).read_text().strip()
            except OSError as exc:
                raise ValueError(f"RECALLD_LLM_API_KEY_FILE cannot be read: {exc.strerror}") from None
        return self.api_key or "none"


class LLMFailure(Exception):
    """No valid answer within the budget (or the server cannot be reached): fall back."""


def make_client(settings: LLMSettings) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=settings.key(),
        base_url=settings.base_url or None,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
    )


class StructuredClient:
    def __init__(self, client: openai.AsyncOpenAI, settings: LLMSettings) -> None:
        if not settings.model:
            raise ValueError("RECALLD_LLM_MODEL is required for the LLM path")
        self._client = client
        self._s = settings
        self._format: ResponseFormat = (
            ResponseFormat.JSON_SCHEMA if settings.response_format is ResponseFormat.AUTO else settings.response_format
        )
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))
        # calls, answers, repairs, invalid answers, format downgrades, failures: for the notes and
        # the Verify report, never containing content
        self.stats: Counter[str] = Counter()

    @property
    def response_format(self) -> ResponseFormat:
        return self._format

    async def ask(
        self,
        system: str,
        user: str,
        schema: type[M],
        *,
        examples: Sequence[tuple[str, str]] = (),
        name: str = "answer",
    ) -> M:
        """The model's answer to ``user`` as a ``schema`` instance. ``examples``: worked (user,
        answer) pairs shown before the question (a base model needs one)."""
        messages: list[dict[str, str]] = [{"role": "system", "content": system}]
        for q, a in examples:
            messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        messages.append({"role": "user", "content": user})
        last = "no answer"
        for attempt in range(1 + max(0, self._s.max_repairs)):
            text = await self._complete(messages, schema, name)
            try:
                return schema.model_validate(parse_json(text))
            except (ValueError, ValidationError) as exc:
                last = _short_error(exc)
                self.stats["invalid"] += 1
                log.info("%s: invalid answer (attempt %d): %s", name, attempt + 1, last)
                log.debug("%s: invalid answer text: %r", name, text[:2000])
                if attempt < self._s.max_repairs:
                    self.stats["repairs"] += 1
                    messages += [
                        {"role": "assistant", "content": text[:4000]},
                        {"role": "user", "content": f"That answer is invalid ({last}). Answer again: one JSON object "
                         "that matches the schema, nothing else."},
                    ]  # fmt: skip
        self.stats["failures"] += 1
        raise LLMFailure(f"{name}: no valid answer after {1 + self._s.max_repairs} attempts ({last})")

    @staticmethod
    def _system(system: str, schema: type[BaseModel], fmt: ResponseFormat) -> str:
        if fmt is ResponseFormat.JSON_SCHEMA:
            return system
        # Without a schema the server can enforce, the model has to read it.
        return f"{system}\n\nAnswer with one JSON object matching this JSON schema, and nothing else:\n" + json.dumps(
            schema.model_json_schema(), separators=(",", ":")
        )

    async def _complete(self, messages: list[dict[str, str]], schema: type[BaseModel], name: str) -> str:
        while True:
            fmt = self._format
            kwargs: dict[str, Any] = {}
            if fmt is ResponseFormat.JSON_SCHEMA:
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": schema.model_json_schema(), "strict": True},
                }
            elif fmt is ResponseFormat.JSON_OBJECT:
                kwargs["response_format"] = {"type": "json_object"}
            sent = [{**messages[0], "content": self._system(messages[0]["content"], schema, fmt)}, *messages[1:]]
            self.stats["calls"] += 1
            try:
                async with self._slots:
                    response = await self._client.chat.completions.create(
                        model=self._s.model,
                        messages=sent,  # type: ignore[arg-type]
                        temperature=self._s.temperature,
                        max_tokens=self._s.max_tokens,
                        **kwargs,
                    )
            except openai.BadRequestError as exc:
                if fmt in _DOWNGRADE and _about_format(exc):
                    self._format = _DOWNGRADE[fmt]
                    self.stats["format_downgrades"] += 1
                    log.warning("the LLM server refused response_format %s; using %s from now on", fmt, self._format)
                    continue
                self.stats["failures"] += 1
                raise LLMFailure(f"{name}: the LLM server refused the request ({exc.status_code})") from exc
            except openai.OpenAIError as exc:
                self.stats["failures"] += 1
                raise LLMFailure(f"{name}: the LLM server failed ({type(exc).__name__})") from exc
            self.stats["answers"] += 1
            choice = response.choices[0] if response.choices else None
            if choice is not None and choice.finish_reason == "length":
                self.stats["truncated"] += 1
            return (choice.message.content if choice is not None else None) or ""


def _about_format(exc: openai.BadRequestError) -> bool:
    text = str(exc).casefold()
    return any(w in text for w in ("response_format", "json_schema", "schema", "json_object", "grammar"))


def _short_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(x) for x in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()[:3]]
        return "; ".join(parts)
    return str(exc)[:200]


_FENCE = re.compile(r"```(?:json)?\s*(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)


def parse_json(text: str) -> Any:
    """The JSON object in a model's answer: inside a code fence if there is one, from the first
    ``{`` on; a truncated object is closed (see :func:`repair_json`). Raises ValueError when there
    is none."""
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start = body.find("{")
    if start < 0:
        raise ValueError("the answer holds no JSON object")
    body = body[start:]
    try:
        value, _ = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError:
        try:
            value = json.loads(repair_json(body))
        except json.JSONDecodeError as exc:
            raise ValueError(f"the answer is not JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(value, dict):  # e.g. a repaired fragment that closed as something else
        raise ValueError("the answer is not a JSON object")
    return value


def repair_json(text: str) -> str:
    """Close a JSON text that was cut off: an open string is closed, a dangling ``,`` / ``:`` /
    key dropped, open arrays and objects closed in order."""
    stack: list[str] = []
    out: list[str] = []
    in_string = escaped = False
    for ch in text:
        out.append(ch)
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}" and stack:
            stack.pop()
    if escaped:
        out.pop()
    if in_string:
        out.append('"')
    body = "".join(out).rstrip()
    # A value cut before it began, or a key without its value: drop back to the last complete item.
    body = re.sub(r',\s*"[^"]*"\s*:?\s*$', "", body) if stack and stack[-1] == "}" else body
    body = re.sub(r"[,:]\s*$", "", body)
    if stack and stack[-1] == "}" and re.search(r'[{,]\s*"[^"]*"$', body):
        body = re.sub(r',?\s*"[^"]*"$', "", body)
    return body + "".join(reversed(stack))
