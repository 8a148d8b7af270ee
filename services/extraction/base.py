"""The Extractor protocol: messages -> atomic facts with triples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.domain import ChatMessage, Fact, QueryAnalysis


class Extractor(Protocol):
    """Distils conversation messages into facts.

    ``default_speaker`` is the entity first-person speech maps to when a message
    carries no ``name`` (the scope's user). Implementations must never turn a
    negated statement into a positive triple.
    """

    async def extract(self, messages: Sequence[ChatMessage], *, default_speaker: str) -> list[Fact]: ...

    async def analyze_query(self, query: str, *, speaker: str) -> QueryAnalysis: ...
