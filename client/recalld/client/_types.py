"""Plain values the client takes and returns: frozen dataclasses, aware datetimes, dicts, strings.

Enumerations travel as lowercase strings: events "add" / "update" / "delete" / "noop" /
"invalidate", states "active" / "deleted", retrievers and modes "hybrid" / "vector" / "graph", add
modes "sync" / "async", levels "user" / "session" / "agent" / "shared", operation statuses
"pending" / "running" / "succeeded" / "failed". A value this client does not know (a newer server)
reads as "unspecified".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

FilterOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in"]
Mode = Literal["hybrid", "vector", "graph"]
AddMode = Literal["sync", "async"]
# Where a memory sits relative to the agent reading it: "user" (about the user, made by no agent
# and in no run: every agent's), "session" (made in a run), "agent" (the reading agent's own),
# "shared" (another agent's, readable through a grant).
Level = Literal["user", "session", "agent", "shared"]


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation message. ``role``: user, assistant, system or tool; ``name``: the speaker
    first-person speech maps to (default: the scope's user)."""

    content: str
    role: str = "user"
    name: str = ""


@dataclass(frozen=True, slots=True)
class Filter:
    """``metadata[key] <op> value``; the filters of one call are ANDed. ``in`` takes a list.
    Values: str, int, float, bool (or a list of them for ``in``)."""

    key: str
    op: FilterOp
    value: Any


@dataclass(frozen=True, slots=True)
class Triple:
    """One (subject, predicate, object) relation distilled from a memory; negations carry a
    ``not_`` predicate prefix."""

    subject: str
    predicate: str
    object: str
    subject_type: str = "entity"
    object_type: str = "entity"


@dataclass(frozen=True, slots=True)
class Attribute:
    """A structured attribute of the user a memory states: ``name`` (snake_case) and ``value``,
    e.g. Attribute("allergies", "penicillin")."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Memory:
    """A remembered fact. ``version`` grows with every write: pass it as ``expected_version`` to
    update or delete for optimistic concurrency. Times are timezone-aware (UTC)."""

    id: str
    text: str
    user_id: str
    agent_id: str
    run_id: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    reference_time: datetime
    triples: tuple[Triple, ...]
    state: str  # "active" or "deleted"
    episode_id: str
    version: int
    # World time the fact held: from valid_from until valid_to (None while it holds).
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    # When recalld retired it, the memory that superseded it, and the rule that decided it.
    retired_at: datetime | None = None
    superseded_by: str = ""
    retired_by_rule: str = ""
    confirmations: int = 1
    confirmed_at: datetime | None = None
    # 0..1: how slowly the memory fades in search ranking (1: never); 0.5 unless set on add.
    importance: float = 0.5
    # When a client last reported using it (mark_used: its decay restarts), and when it expires
    # (a ttl on add, or the session lifetime of a run's memories); None: never.
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    attributes: tuple[Attribute, ...] = ()  # the structured attributes it states
    speaker: str = ""  # who stated it: the message's name, else the scope's user ("" if unknown)

    @property
    def current(self) -> bool:
        """The fact still holds (not retired, not deleted)."""
        return self.state == "active" and self.valid_to is None


@dataclass(frozen=True, slots=True)
class MemoryEvent:
    """What an add did to one memory: "add" (new), "noop" (already known: reinforced), "update"
    (an explicit correction), "invalidate" (a fact that stopped holding). ``rule`` names the
    reconciliation rule; ``related_ids`` the other memories involved (what an add retired, what
    superseded an invalidated fact)."""

    event: str
    memory: Memory
    rule: str = ""
    related_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: items the server read, imported, skipped as imported before (same
    source id and scope), and the memories the imported items added."""

    received: int
    imported: int
    skipped_duplicates: int
    memories_written: int


@dataclass(frozen=True, slots=True)
class AddResult:
    """The episode an add recorded and what it did to each memory. An asynchronous add (mode
    "async") has no events yet: follow ``operation_id`` (also the future ``episode_id``) with
    wait_operations, watch_operations or get_operation."""

    episode_id: str
    events: tuple[MemoryEvent, ...]
    operation_id: str = ""  # asynchronous adds only

    @property
    def added(self) -> tuple[Memory, ...]:
        """The memories this add created (event "add")."""
        return tuple(e.memory for e in self.events if e.event == "add")


@dataclass(frozen=True, slots=True)
class Edge:
    """One stored relation between two entities and the memory it came from."""

    subject: str
    predicate: str
    object: str
    memory_id: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None  # None while the relation holds


@dataclass(frozen=True, slots=True)
class GraphPath:
    """A walk through the graph; ``text`` renders it: "alice -has_pet-> Luna -catch-> cold"."""

    start: str
    edges: tuple[Edge, ...]
    text: str


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A memory found by search. ``retrievers``: which found it ("vector", "graph", "lexical");
    ``paths``: the graph walks that led to it, best first; ``vector_score``: cosine similarity, or
    None when the vector retriever did not find it. ``score = relevance * weight``: the retrievers' fused
    relevance and the decay weight (0..1, from age, use and importance). ``level``: where the
    memory sits relative to the reading agent ("user", "session", "agent" or "shared")."""

    memory: Memory
    score: float
    retrievers: tuple[str, ...]
    paths: tuple[GraphPath, ...] = ()
    vector_score: float | None = None
    retired: bool = False  # the fact no longer holds (as_of / include_retired searches)
    level: str = "user"
    relevance: float = 0.0
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing, newest first; ``next_page_token`` is "" on the last page."""

    memories: tuple[Memory, ...]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of a memory: event "add", "update", "invalidate", "noop" or "delete", at a
    timezone-aware time, by ``actor`` (the agent, or "system"), under ``rule``, from the episode
    (Add) ``episode_id``; the relations before and after."""

    memory_id: str
    event: str
    old_text: str
    new_text: str
    at: datetime
    actor: str = "system"
    rule: str = ""
    episode_id: str = ""
    old_triples: tuple[Triple, ...] = ()
    new_triples: tuple[Triple, ...] = ()


@dataclass(frozen=True, slots=True)
class OperationResult:
    """What an applied asynchronous add did to one memory (read it with get): ``event`` and
    ``rule`` as in :class:`MemoryEvent`, ``related_ids`` the other memories involved."""

    memory_id: str
    event: str
    rule: str = ""
    related_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Operation:
    """An asynchronous add: ``status`` "pending" (recorded), "running", then "succeeded" (with
    ``results``) or "failed" (with ``error``). ``attempts``: how often a worker started applying
    it; ``recovered``: it succeeded before a server crash, so its results are not known."""

    id: str
    user_id: str
    agent_id: str
    run_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    error: str = ""
    results: tuple[OperationResult, ...] = ()
    recovered: bool = False

    @property
    def done(self) -> bool:
        """It will not change any more (succeeded or failed)."""
        return self.status in ("succeeded", "failed")


@dataclass(frozen=True, slots=True)
class ProfileAttribute:
    """One current value of a user's attribute: ``category`` (health, diet, routines, preferences,
    study, work, family, pets, location, person, other); ``multi_valued`` attributes accumulate
    values, a single-valued one holds one at a time; since ``valid_from``; ``sources``: the
    memories that state it."""

    name: str
    value: str
    category: str
    multi_valued: bool
    valid_from: datetime | None
    sources: tuple[Memory, ...] = ()


@dataclass(frozen=True, slots=True)
class Grant:
    """``owner_agent`` lets ``grantee_agent`` read the memories it made about ``user_id`` (they
    appear at level "shared"). Granted at ``granted_at`` by ``granted_by``; ``revoked_at`` is None
    while the grant holds."""

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
        """The grant holds (not revoked)."""
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Entity:
    """A node of the knowledge graph."""

    name: str
    type: str
    aliases: tuple[str, ...] = ()


EntityNode = Entity


@dataclass(frozen=True, slots=True)
class Subgraph:
    """The entities and relations around an entity."""

    entities: tuple[Entity, ...]
    edges: tuple[Edge, ...]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as the server keeps it (never its token). ``role``: "read", "write" or "admin";
    ``user_ids``/``agent_ids``: the only users/agents it may touch (empty: any)."""

    id: str
    tenant: str
    name: str
    role: str
    user_ids: tuple[str, ...]
    agent_ids: tuple[str, ...]
    created_at: datetime
    created_by: str = ""
    revoked_at: datetime | None = None
    revoked_by: str = ""


@dataclass(frozen=True, slots=True)
class EraseReceipt:
    """Proof of an erasure: what was removed (counts only) and when."""

    id: str
    user_id: str
    agent_id: str
    run_id: str
    memories: int
    relations: int
    entities: int
    episodes: int
    history_entries: int
    vectors: int
    operations: int
    grants: int
    requested_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Graph store (system of record) against vector index. The id lists are samples."""

    memories: int
    vectors: int
    missing_vectors: tuple[str, ...]
    orphan_vectors: tuple[str, ...]
    consistent: bool
    orphan_relations: int = 0
    orphan_entities: int = 0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of calls that fail with UNAVAILABLE, and only those: ``attempts`` calls in all,
    pausing a random time (full jitter) up to ``initial_backoff * multiplier ** (n - 1)`` seconds,
    capped at ``max_backoff``, before retry ``n``. The call's deadline covers every attempt and
    pause: no retry starts that could not finish before it."""

    attempts: int = 4
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1 (1 = no retries)")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.multiplier < 1:
            raise ValueError("RetryPolicy needs initial_backoff >= 0, max_backoff >= 0 and multiplier >= 1")

    def backoff(self, retry: int) -> float:
        """The longest pause before retry number ``retry`` (1-based)."""
        try:
            return float(min(self.max_backoff, self.initial_backoff * self.multiplier ** (retry - 1)))
        except OverflowError:
            return float(self.max_backoff)


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)

__all__ = [
    "DEFAULT_RETRY",
    "NO_RETRY",
    "AddMode",
    "AddResult",
    "Attribute",
    "Edge",
    "Entity",
    "EntityNode",
    "Filter",
    "FilterOp",
    "Grant",
    "GraphPath",
    "HistoryEntry",
    "Level",
    "Memory",
    "MemoryEvent",
    "Message",
    "Mode",
    "Operation",
    "OperationResult",
    "Page",
    "ProfileAttribute",
    "RetryPolicy",
    "SearchHit",
    "Subgraph",
    "Triple",
    "VerifyReport",
]
