"""Domain types of recalld: plain typed values, no I/O.

Everything the core, the stores and the edge exchange is one of these. They are
frozen dataclasses so they can be shared between tasks without copying.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JsonValue = Any
Metadata = Mapping[str, JsonValue]


def norm(name: str) -> str:
    """Entity identity within a namespace: case- and whitespace-insensitive. The one definition:
    every store keys entities by (namespace, norm(name)) and retrieval compares names with it."""
    return " ".join(name.casefold().split())


@dataclass(frozen=True, slots=True)
class Scope:
    """Who a memory belongs to. At least one field is set (checked at the edge).

    Writing: the memory lives in exactly this scope.
    Reading: a scope is a filter; every field that is set must match.
    ``{user_id: alice}`` therefore sees everything remembered about alice by any
    agent in any run (agents share a user's memory); ``{user_id: alice,
    agent_id: tutor}`` sees only what the tutor remembered.
    """

    user_id: str = ""
    agent_id: str = ""
    run_id: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.user_id or self.agent_id or self.run_id)

    @property
    def namespace(self) -> str:
        """The entity namespace: entities are shared by everything of one user
        (or, for memories without a user, of one agent, or of one run)."""
        if self.user_id:
            return "u:" + self.user_id
        if self.agent_id:
            return "a:" + self.agent_id
        return "r:" + self.run_id

    @property
    def speaker(self) -> str:
        """The entity that first-person speech maps to when a message has no name."""
        return self.user_id or self.agent_id or self.run_id

    def items(self) -> list[tuple[str, str]]:
        """The set fields as (name, value) pairs, in a fixed order."""
        return [
            (k, v) for k, v in (("user_id", self.user_id), ("agent_id", self.agent_id), ("run_id", self.run_id)) if v
        ]

    def contains(self, other: Scope) -> bool:
        """True when ``other`` (a memory's scope) matches this filter."""
        return all(getattr(other, k) == v for k, v in self.items())


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Triple:
    """(subject, predicate, object) with entity types. Predicates are snake_case
    lemmas; negated statements carry a ``not_`` prefix (``not_allergic_to``)."""

    subject: str
    predicate: str
    object: str
    subject_type: str = "entity"
    object_type: str = "entity"


@dataclass(frozen=True, slots=True)
class Fact:
    """One atomic fact distilled from a message."""

    text: str
    triples: tuple[Triple, ...] = ()
    speaker: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueryAnalysis:
    """What a search query refers to: entity mentions (already resolved, e.g.
    "my" -> the speaker) and content-word lemmas for matching predicates."""

    entities: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()


class MemoryState(enum.Enum):
    ACTIVE = "active"
    DELETED = "deleted"


class EventKind(enum.Enum):
    ADD = "add"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "noop"


@dataclass(frozen=True, slots=True)
class Memory:
    id: str
    text: str
    scope: Scope
    metadata: Metadata
    created_at: datetime
    updated_at: datetime
    reference_time: datetime
    episode_id: str = ""
    triples: tuple[Triple, ...] = ()
    state: MemoryState = MemoryState.ACTIVE
    content_hash: str = ""
    version: int = 1


@dataclass(frozen=True, slots=True)
class Episode:
    """A raw Add call: the messages as sent, kept durably."""

    id: str
    scope: Scope
    messages: tuple[ChatMessage, ...]
    metadata: Metadata
    reference_time: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    memory_id: str
    event: EventKind
    old_text: str
    new_text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class MemoryEvent:
    """What an Add did to one memory."""

    memory: Memory
    event: EventKind


@dataclass(frozen=True, slots=True)
class Edge:
    """One relation as stored: entity names, predicate, the memory it came from."""

    subject: str
    predicate: str
    object: str
    memory_id: str


@dataclass(frozen=True, slots=True)
class Path:
    """A walk through the graph from a seed entity; edges in walk order, each
    oriented as stored (subject -predicate-> object)."""

    start: str
    edges: tuple[Edge, ...]

    def render(self) -> str:
        parts = [self.start]
        node = self.start
        for e in self.edges:
            if e.subject == node:
                parts.append(f"-{e.predicate}-> {e.object}")
                node = e.object
            else:
                parts.append(f"<-{e.predicate}- {e.subject}")
                node = e.subject
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class EntityNode:
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class Subgraph:
    nodes: tuple[EntityNode, ...]
    edges: tuple[Edge, ...]


class Retriever(enum.Enum):
    VECTOR = "vector"
    GRAPH = "graph"


class SearchMode(enum.Enum):
    HYBRID = "hybrid"
    VECTOR = "vector"
    GRAPH = "graph"


class FilterOp(enum.Enum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"


@dataclass(frozen=True, slots=True)
class MetadataFilter:
    """``metadata[key] <op> value``; filters in one request are ANDed.
    Values are str, int, float or bool (a list of those for IN)."""

    key: str
    op: FilterOp
    value: JsonValue


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Bounds on a memory's reference time (inclusive start, exclusive end)."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    memory: Memory
    score: float
    retrievers: tuple[Retriever, ...]
    paths: tuple[Path, ...] = ()
    vector_score: float | None = None
