"""The LLM extractor: facts, triples, entity types and attributes from one chat call per Add.

Same protocol as the spaCy extractor, which it keeps as its fallback: when the model gives no
valid answer within the budget (recalld.llm.structured), or a valid answer with no usable fact
for messages that have content, those messages are extracted by spaCy instead. An Add therefore
never fails and never loses a message because of the model. Query analysis stays with spaCy
(offline, fast).

What the model returns is checked beyond the schema: first person ("I", "me", "user") becomes
the speaker's name; predicates become snake_case; a triple naming something the messages never
mention (a model copying the worked example) is dropped; facts without text are dropped.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field, create_model

from recalld.kernel.domain import Attribute, ChatMessage, Fact, QueryAnalysis, Triple, norm
from recalld.kernel.ports import Extractor
from recalld.llm.structured import LLMFailure, StructuredClient

log = logging.getLogger(__name__)

MAX_MESSAGES_PER_CALL = 8  # longer Adds are split so one answer stays well inside max_tokens


# Bounds in the schema itself: a server that enforces the schema (llama.cpp turns it into a
# grammar) cannot let a weak model ramble until max_tokens (measured with Gemma 3 270M: 600+
# tokens, 20 s, of repeated facts per call without them).
FACTS_PER_MESSAGE = 3
_NAME = 80  # characters of a name, predicate or value
_SENTENCE = 300


class LLMTriple(BaseModel):
    subject: str = Field(max_length=_NAME)
    predicate: str = Field(max_length=_NAME)
    object: str = Field(max_length=_NAME)
    subject_type: str = Field(default="entity", max_length=_NAME)
    object_type: str = Field(default="entity", max_length=_NAME)


class LLMAttribute(BaseModel):
    name: str = Field(max_length=_NAME)
    value: str = Field(max_length=_NAME)


class LLMFact(BaseModel):
    text: str = Field(max_length=_SENTENCE, description="the fact as one standalone sentence, as the speaker said it")
    triples: list[LLMTriple] = Field(default_factory=list, max_length=4)
    attributes: list[LLMAttribute] = Field(default_factory=list, max_length=3)
    time: str = Field(default="", max_length=_NAME, description="the time phrase the sentence names, if any")
    ended: bool = Field(default=False, description="the sentence says something stopped holding")
    correction: bool = Field(default=False, description="the sentence corrects something said before")


class LLMExtraction(BaseModel):
    facts: list[LLMFact]


@functools.cache
def extraction_schema(messages: int) -> type[LLMExtraction]:
    """The answer schema for a call about ``messages`` messages: at most FACTS_PER_MESSAGE facts
    each."""
    limit = FACTS_PER_MESSAGE * max(1, messages)
    return create_model(
        f"LLMExtraction{messages}",
        __base__=LLMExtraction,
        facts=(list[LLMFact], Field(max_length=limit)),
    )


SYSTEM = (
    "You extract long-term memories from a conversation. For each message, list the facts worth "
    "remembering about the people in it: one standalone sentence each, keeping first person as "
    "said. For each fact give relation triples (subject, snake_case predicate, object; a negated "
    "statement gets a not_ predicate such as not_allergic_to) with entity types (person, pet, "
    "place, organization, food, activity, date, entity), structured attributes of the speaker "
    "(allergies, conditions, medications, diet, exercise_routine, study_routine, routines, likes, "
    "dislikes, school, studies, upcoming_exam, difficulties, employer, job_title, family, pets, "
    "location, age), the time phrase if any, ended=true when the sentence says something stopped, "
    "correction=true when it corrects an earlier statement. Skip greetings and small talk."
)
EXAMPLE_Q = (
    "Speaker of first person: bob. Reference time: 2024-05-20.\n"
    "Messages:\n[bob] Hi! My dog Rex has a cold, and I'm allergic to penicillin.\n[bob] Thanks, see you."
)
EXAMPLE_A = (
    '{"facts":[{"text":"My dog Rex has a cold.","triples":[{"subject":"bob","predicate":"has_pet",'
    '"object":"Rex","subject_type":"person","object_type":"pet"},{"subject":"Rex","predicate":"has",'
    '"object":"cold","subject_type":"pet","object_type":"entity"}],"attributes":[{"name":"pets",'
    '"value":"Rex (dog)"}],"time":"","ended":false,"correction":false},{"text":"I\'m allergic to '
    'penicillin.","triples":[{"subject":"bob","predicate":"allergic_to","object":"penicillin",'
    '"subject_type":"person","object_type":"entity"}],"attributes":[{"name":"allergies","value":'
    '"penicillin"}],"time":"","ended":false,"correction":false}]}'
)
_FIRST_PERSON = {"i", "me", "my", "myself", "user", "the user", "speaker", "the speaker"}
_WORD = re.compile(r"[^\W_]+")


class LLMExtractor:
    def __init__(self, llm: StructuredClient, fallback: Extractor) -> None:
        self._llm = llm
        self._fallback = fallback
        # calls, facts, dropped triples, fallbacks by reason: for notes and benchmarks (no content)
        self.stats: Counter[str] = Counter()

    async def extract(
        self, messages: Sequence[ChatMessage], *, default_speaker: str, reference_time: datetime | None = None
    ) -> list[Fact]:
        kept = [m for m in messages if (m.name or m.role.lower() == "user") and m.content.strip()]
        facts: list[Fact] = []
        for i in range(0, len(kept), MAX_MESSAGES_PER_CALL):
            chunk = kept[i : i + MAX_MESSAGES_PER_CALL]
            facts += await self._extract_chunk(chunk, default_speaker, reference_time)
        return facts

    async def _extract_chunk(
        self, chunk: Sequence[ChatMessage], speaker: str, reference_time: datetime | None
    ) -> list[Fact]:
        self.stats["calls"] += 1
        try:
            answer = await self._llm.ask(
                SYSTEM, _question(chunk, speaker, reference_time), extraction_schema(len(chunk)),
                examples=[(EXAMPLE_Q, EXAMPLE_A)], name="extraction",
            )  # fmt: skip
        except LLMFailure as exc:
            self.stats["fallback_failure"] += 1
            log.info("LLM extraction failed for %d messages; spaCy extracts them (%s)", len(chunk), exc)
            return await self._fallback.extract(chunk, default_speaker=speaker)
        facts = self.to_facts(answer, chunk, speaker)
        if not facts and any(len(_WORD.findall(m.content)) >= 4 for m in chunk):
            self.stats["fallback_empty"] += 1
            log.info("LLM extraction found no usable fact in %d messages; spaCy extracts them", len(chunk))
            return await self._fallback.extract(chunk, default_speaker=speaker)
        self.stats["facts"] += len(facts)
        return facts

    def to_facts(self, answer: LLMExtraction, chunk: Sequence[ChatMessage], speaker: str) -> list[Fact]:
        """Checked facts from a validated answer (see the module docstring)."""
        said = " ".join(m.content for m in chunk).casefold()
        speakers = {norm(m.name or speaker) for m in chunk}
        me = chunk[0].name or speaker if len({m.name for m in chunk}) == 1 else speaker
        out: list[Fact] = []
        seen: set[str] = set()
        for f in answer.facts:
            text = " ".join(f.text.split())
            if not text or norm(text) in seen:
                self.stats["dropped_facts"] += 1  # empty, or the same fact again (weak models repeat)
                continue
            if not _mostly_said(text, said):
                self.stats["ungrounded_facts"] += 1  # not what the messages say (e.g. the worked example)
                continue
            seen.add(norm(text))
            triples: list[Triple] = []
            for t in f.triples:
                subject, obj = _who(t.subject, me), _who(t.object, me)
                predicate = _snake(t.predicate)
                if not (subject and predicate and obj) or not all(
                    norm(x) in speakers or _grounded(x, said) for x in (subject, obj)
                ):
                    self.stats["dropped_triples"] += 1
                    continue
                triples.append(Triple(subject, predicate, obj, t.subject_type or "entity", t.object_type or "entity"))
            attributes = tuple(
                dict.fromkeys(
                    Attribute(_snake(a.name), " ".join(a.value.split()))
                    for a in f.attributes
                    if _snake(a.name) and a.value.strip() and _grounded(a.value, said)
                )
            )
            hints = {"time": f.time.strip()} if f.time.strip() else {}
            if f.ended:
                hints["cessation"] = "true"
            if f.correction:
                hints["correction"] = "true"
            out.append(Fact(text=text, triples=tuple(dict.fromkeys(triples)), speaker=me, hints=hints,
                            attributes=attributes))  # fmt: skip
        return out

    async def analyze_query(self, query: str, *, speaker: str) -> QueryAnalysis:
        return await self._fallback.analyze_query(query, speaker=speaker)


def _question(chunk: Sequence[ChatMessage], speaker: str, reference_time: datetime | None) -> str:
    when = f" Reference time: {reference_time:%Y-%m-%d}." if reference_time else ""
    lines = "\n".join(f"[{m.name or speaker}] {' '.join(m.content.split())}" for m in chunk)
    return f"Speaker of first person: {speaker}.{when}\nMessages:\n{lines}"


def _who(name: str, me: str) -> str:
    name = " ".join(name.split())
    return me if name.casefold() in _FIRST_PERSON else name


def _snake(text: str) -> str:
    return "_".join(_WORD.findall(text.casefold()))[:64]


def _mostly_said(text: str, said: str) -> bool:
    """At least half of the sentence's content words (longer than 3 letters) occur in what was
    said: a paraphrase passes, a fact about something else does not."""
    words = [w for w in _WORD.findall(text.casefold()) if len(w) > 3]
    return not words or sum(w in said for w in words) * 2 >= len(words)


def _grounded(value: str, said: str) -> bool:
    """Some content word of ``value`` occurs in what was said (the model did not invent it)."""
    words = [w for w in _WORD.findall(value.casefold()) if len(w) > 2] or _WORD.findall(value.casefold())
    return any(w in said for w in words)
