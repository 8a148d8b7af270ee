"""Plain values the client takes and returns: frozen dataclasses, datetimes, dicts, strings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

FilterOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in"]
Mode = Literal["hybrid", "vector", "graph"]


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation message. ``role``: user, assistant, system or tool; ``name``: the speaker
    first-person speech maps to (default: the scope's user)."""

    content: str
    role: str = "user"
    name: str = ""


@dataclass(frozen=True, slots=True)
class Filter:
    """``metadata[key] <op> value``; filters of one call are ANDed. ``in`` takes a list."""

    key: str
    op: FilterOp
    value: Any


@dataclass(frozen=True, slots=True)
class Triple:
    subject: str
    predicate: str
    object: str
    subject_type: str = "entity"
    object_type: str = "entity"


@dataclass(frozen=True, slots=True)
class Memory:
    id: str
    text: str
    user_id: str
    agent_id: str
    run_id: str
    metadata: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    reference_time: datetime
    triples: tuple[Triple, ...]
    state: str  # "active" or "deleted"
    episode_id: str
    version: int


@dataclass(frozen=True, slots=True)
class MemoryEvent:
    """What an add did to one memory: "add" (new) or "noop" (already known)."""

    event: str
    memory: Memory


@dataclass(frozen=True, slots=True)
class AddResult:
    episode_id: str
    events: tuple[MemoryEvent, ...]

    @property
    def added(self) -> tuple[Memory, ...]:
        return tuple(e.memory for e in self.events if e.event == "add")


@dataclass(frozen=True, slots=True)
class Edge:
    subject: str
    predicate: str
    object: str
    memory_id: str


@dataclass(frozen=True, slots=True)
class GraphPath:
    start: str
    edges: tuple[Edge, ...]
    text: str  # "alice -has_pet-> Luna -catch-> cold"


@dataclass(frozen=True, slots=True)
class SearchHit:
    memory: Memory
    score: float
    retrievers: tuple[str, ...]  # "vector", "graph"
    paths: tuple[GraphPath, ...] = ()
    vector_score: float | None = None


@dataclass(frozen=True, slots=True)
class Page:
    memories: tuple[Memory, ...]
    next_page_token: str  # "" on the last page


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    memory_id: str
    event: str  # "add", "update", "delete"
    old_text: str
    new_text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Entity:
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class Subgraph:
    entities: tuple[Entity, ...]
    edges: tuple[Edge, ...]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    memories: int
    vectors: int
    missing_vectors: tuple[str, ...]
    orphan_vectors: tuple[str, ...]
    consistent: bool


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of calls that fail with UNAVAILABLE (and only those): exponential backoff with full
    jitter, ``attempts`` calls in all. Each attempt gets the call's whole deadline."""

    attempts: int = 4
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0

    def backoff(self, retry: int) -> float:
        """The longest pause before retry number ``retry`` (1-based)."""
        return float(min(self.max_backoff, self.initial_backoff * self.multiplier ** (retry - 1)))


NO_RETRY = RetryPolicy(attempts=1)

__all__ = [
    "NO_RETRY",
    "AddResult",
    "Edge",
    "Entity",
    "Filter",
    "FilterOp",
    "GraphPath",
    "HistoryEntry",
    "Memory",
    "MemoryEvent",
    "Message",
    "Mode",
    "Page",
    "RetryPolicy",
    "SearchHit",
    "Subgraph",
    "Triple",
    "VerifyReport",
]
