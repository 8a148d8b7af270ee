"""Domain types of recalld: plain typed values, no I/O.

Everything the core, the stores and the edge exchange is one of these. They are
frozen dataclasses so they can be shared between tasks without copying.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JsonValue = Any
Metadata = Mapping[str, JsonValue]


@functools.lru_cache(maxsize=65536)
def norm(name: str) -> str:
    """Entity identity within a namespace: case- and whitespace-insensitive. The one definition:
    every store keys entities by (namespace, norm(name)) and retrieval compares names with it.
    Cached: a Search normalizes the same few hundred names of its walks many times."""
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
    # Reading only: the fields left unset must be unset on the memory too ({user_id: alice},
    # exact, sees alice's user-level memories and none that an agent or a run made).
    exact: bool = False

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

    def filter_items(self) -> list[tuple[str, str]]:
        """The (field, value) equalities this scope imposes as a read filter: the set fields, and
        when ``exact`` also the unset ones (value "")."""
        if not self.exact:
            return self.items()
        return [("user_id", self.user_id), ("agent_id", self.agent_id), ("run_id", self.run_id)]

    def contains(self, other: Scope) -> bool:
        """True when ``other`` (a memory's scope) matches this filter."""
        return all(getattr(other, k) == v for k, v in self.filter_items())

    def writable(self) -> Scope:
        """The scope a memory is stored under (``exact`` is a read option only)."""
        return Scope(self.user_id, self.agent_id, self.run_id) if self.exact else self


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
class Attribute:
    """One structured attribute of the scope's user, distilled from a fact: ``allergies =
    penicillin``, ``exercise_routine = run 5 km every morning``. Names are snake_case; whether a
    name holds one value at a time or accumulates is the core's configuration
    (recalld.core.profile)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Fact:
    """One atomic fact distilled from a message."""

    text: str
    triples: tuple[Triple, ...] = ()
    speaker: str = ""
    # Extraction hints for the core: "time" (the time phrase), "cessation", "correction".
    hints: Mapping[str, str] = field(default_factory=dict)
    attributes: tuple[Attribute, ...] = ()
    # Descriptions that name an entity, as said in the message: {"bob's cat": "Luna"} from "my cat
    # Luna". The store keeps them per namespace so a later "my cat" resolves to Luna.
    aliases: Mapping[str, str] = field(default_factory=dict)


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
    INVALIDATE = "invalidate"


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
    # World time: when the fact began to hold (the reference time, or the date the text names)
    # and when it stopped (None while it holds). System time: ``created_at`` (recorded) and
    # ``retired_at`` (when recalld learned it no longer holds), with the memory that superseded
    # it and the rule that retired it.
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    retired_at: datetime | None = None
    superseded_by: str = ""
    retired_by_rule: str = ""
    # Reinforcement: how often the fact was stated (1 when added) and when last (world time: the
    # reference time of the latest statement).
    confirmations: int = 1
    confirmed_at: datetime | None = None
    # Living memory: how much the fact matters (0..1; 0.5 unless set on Add), when a client last
    # reported using it (MarkUsed), when it expires (TTL; None: never), and the structured
    # attributes it states.
    importance: float = 0.5
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    attributes: tuple[Attribute, ...] = ()
    # Who stated the fact: the message's name, else the scope's user (empty on memories recorded
    # before recalld kept it and not recoverable from their episode).
    speaker: str = ""

    def __post_init__(self) -> None:
        # Defaults that depend on other fields: valid since the reference time, confirmed when said.
        if self.valid_from is None:
            object.__setattr__(self, "valid_from", self.reference_time)
        if self.confirmed_at is None:
            object.__setattr__(self, "confirmed_at", self.reference_time)

    @property
    def last_seen(self) -> datetime:
        """When the fact was last stated or used: what its decay counts from."""
        seen = self.confirmed_at or self.reference_time
        return max(seen, self.last_used_at) if self.last_used_at is not None else seen

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    @property
    def current(self) -> bool:
        """Still holds (not retired); deleted memories are never current."""
        return self.state is MemoryState.ACTIVE and self.valid_to is None

    def valid_at(self, t: datetime) -> bool:
        start = self.valid_from or self.reference_time
        return self.state is MemoryState.ACTIVE and start <= t and (self.valid_to is None or t < self.valid_to)


@dataclass(frozen=True, slots=True)
class Validity:
    """Which memories a read sees on the world-time axis. The default: those that hold now (not
    retired). ``as_of``: those valid at that moment (valid_from <= as_of < valid_to).
    ``include_retired``: every memory that is not deleted, current or not."""

    as_of: datetime | None = None
    include_retired: bool = False

    def admits(self, m: Memory) -> bool:
        if m.state is not MemoryState.ACTIVE:
            return False
        if self.include_retired:
            return True
        if self.as_of is not None:
            return m.valid_at(self.as_of)
        return m.valid_to is None


CURRENT = Validity()
ANY_VALIDITY = Validity(include_retired=True)


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
    """One change of a memory and of its relations (``old_triples`` -> ``new_triples``): who
    (``actor``: the request's agent, or "system"), when, the rule that decided it and the
    episode (raw Add) it came from."""

    memory_id: str
    event: EventKind
    old_text: str
    new_text: str
    at: datetime
    actor: str = "system"
    rule: str = ""
    episode_id: str = ""
    old_triples: tuple[Triple, ...] = ()
    new_triples: tuple[Triple, ...] = ()


@dataclass(frozen=True, slots=True)
class MemoryEvent:
    """What an Add did to one memory."""

    memory: Memory
    event: EventKind
    rule: str = ""
    # The other memories the decision involved: for an ADD that invalidated, the retired ones;
    # for an INVALIDATE, the memory that superseded it; for a NOOP, none.
    related_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Edge:
    """One relation as stored: entity names, predicate, the memory it came from."""

    subject: str
    predicate: str
    object: str
    memory_id: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None


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
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Subgraph:
    nodes: tuple[EntityNode, ...]
    edges: tuple[Edge, ...]


class Level(enum.Enum):
    """Where a memory sits relative to the agent that reads it."""

    USER = "user"  # about the user, made by no agent and in no session: shared by every agent
    SESSION = "session"  # made in a run (session)
    AGENT = "agent"  # private to the agent that made it
    SHARED = "shared"  # another agent's, readable through a grant

    @staticmethod
    def of(memory_scope: Scope, reader: Scope) -> Level:
        if memory_scope.agent_id and reader.agent_id and memory_scope.agent_id != reader.agent_id:
            return Level.SHARED
        if memory_scope.run_id:
            return Level.SESSION
        if memory_scope.agent_id:
            return Level.AGENT
        return Level.USER


@dataclass(frozen=True, slots=True)
class Grant:
    """``owner_agent`` lets ``grantee_agent`` read the memories it made about ``user_id``. Kept
    after revocation (``revoked_at``) as the audit trail."""

    id: str
    user_id: str
    owner_agent: str
    grantee_agent: str
    granted_at: datetime
    granted_by: str = ""
    revoked_at: datetime | None = None
    revoked_by: str = ""

    @property
    def active(self) -> bool:
        return self.revoked_at is None


DEFAULT_TENANT = "default"  # the tenant of data written before tenants existed, and of unauthenticated use
# 1-32 of a-z, 0-9 and inner dashes: a tenant id is usable as a directory, FalkorDB graph, Neo4j
# database and (dashes as underscores, which no id contains) Milvus collection name.
TENANT_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")


class Role(enum.IntEnum):
    """What a credential may do; each role includes the ones below it."""

    READ = 1  # Search, Get, List, History, Profile, graph reads, operation status
    WRITE = 2  # + Add, Update, Delete, MarkUsed, grants between agents
    ADMIN = 3  # + Erase, Verify, Reindex, the tenant's API keys


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the credential says: its tenant, a name for the audit log, its role, and
    optionally the only users / agents it may touch (empty: any)."""

    tenant: str
    name: str
    role: Role
    users: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    key_id: str = ""  # the API key's id ("" for a JWT or no authentication)
    method: str = "none"  # "api_key", "jwt", "bootstrap" or "none" (authentication off)
    superuser: bool = False  # the bootstrap key: manages the API keys of every tenant

    def allows(self, scope: Scope) -> bool:
        """Whether a request on ``scope`` stays inside this principal's users and agents."""
        if self.users and scope.user_id not in self.users:
            return False
        return not self.agents or scope.agent_id in self.agents


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key: only a hash of its secret is kept; the token is shown once, at creation."""

    id: str
    tenant: str
    name: str
    role: Role
    secret_hash: str
    created_at: datetime
    users: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    created_by: str = ""
    revoked_at: datetime | None = None
    revoked_by: str = ""

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class ErasureCounts:
    """What an erasure removed (counts only: the receipt never holds content)."""

    memories: int = 0  # every version: current, retired and tombstones
    relations: int = 0
    entities: int = 0
    episodes: int = 0
    history_entries: int = 0
    operations: int = 0  # asynchronous Adds not applied yet, and records of applied ones
    grants: int = 0
    vectors: int = 0

    def __add__(self, other: ErasureCounts) -> ErasureCounts:
        return ErasureCounts(*(a + b for a, b in zip(_counts(self), _counts(other), strict=True)))


def _counts(c: ErasureCounts) -> tuple[int, ...]:
    return (c.memories, c.relations, c.entities, c.episodes, c.history_entries, c.operations, c.grants, c.vectors)


@dataclass(frozen=True, slots=True)
class Erasure:
    """A request to forget a scope entirely, recorded before any of it happens so that it
    completes across a crash; done once ``completed_at`` is set. Kept as the receipt."""

    id: str
    scope: Scope
    requested_at: datetime
    requested_by: str = ""
    counts: ErasureCounts = ErasureCounts()
    completed_at: datetime | None = None


class OperationStatus(enum.Enum):
    PENDING = "pending"  # durably recorded, not applied yet
    RUNNING = "running"  # a worker holds it
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        return self in (OperationStatus.SUCCEEDED, OperationStatus.FAILED)


@dataclass(frozen=True, slots=True)
class Operation:
    """An asynchronous Add: the request as recorded (JSON, opaque to the stores), its state, and
    once applied its results (JSON). Its id is the id of the episode it becomes, which is how a
    restart knows whether it was applied already."""

    id: str
    scope: Scope
    request: str
    status: OperationStatus
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    error: str = ""
    result: str = ""
    owner: str = ""
    lease_until: datetime | None = None


class Retriever(enum.Enum):
    VECTOR = "vector"
    GRAPH = "graph"
    LEXICAL = "lexical"  # full-text match on the memory's words


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
    level: Level = Level.USER
    # The relevance before the decay weight was applied (score = relevance * weight).
    relevance: float = 0.0
    weight: float = 1.0
