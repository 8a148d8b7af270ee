"""The ports: the protocols the core talks to (the graph store's concerns, VectorStore, Embedder,
Extractor, Judge).

Backends implement them and know only the kernel; the core never names a backend.

The system of record is one store with several concerns, one Protocol each: Lifecycle,
MemoryWrites, MemoryReads, FullText, EntityGraph, OperationLog, GrantStore, IndexLedger,
ErasureLog and CredentialStore. A backend implements all of them (``SystemOfRecord``); each
service of the core declares the ones it uses, and the composition root hands it the store under
that type.

A graph store keeps episodes, memories (with their triples, metadata and
history), entities per namespace, and relations with provenance (the memory a
relation came from) and timestamps. Each write method is one transaction.

Consistency with the vector index: every memory row carries a ``version`` and
an ``indexed`` flag. A write stores the memory with ``indexed = False``; once
the vector index holds that version the caller marks it indexed. Deletes are
tombstones (state DELETED, not indexed) until the vector side has dropped the
vector too. ``pending_index`` lists what the vector index still has to do, so
a crash at any point leaves work that the reconciler finishes at start-up.

Concurrency: every write to an existing memory is a compare-and-set inside the
store's transaction. ``replace_memory`` applies only when the stored memory is
still active and at the version the caller read (else :class:`NotFound` or
:class:`Conflict`, and nothing changes); ``delete_memories`` tombstones what is
active at that moment (optionally only at an expected version) and writes the
DELETE history from the stored text. A memory's version goes up by one with
every write and is never reused, so "indexed at version N" names exactly one
state, and a mark for a version that is no longer current is refused
(``mark_indexed`` reports it as stale).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from recalld.kernel.domain import (
    CURRENT,
    ApiKey,
    ChatMessage,
    Episode,
    Erasure,
    ErasureCounts,
    Fact,
    Grant,
    HistoryEntry,
    Memory,
    Metadata,
    MetadataFilter,
    Operation,
    OperationStatus,
    Path,
    QueryAnalysis,
    Scope,
    Subgraph,
    TimeRange,
    Validity,
)
from recalld.kernel.walks import Walks


@dataclass(frozen=True, slots=True)
class PendingIndex:
    """Vector-index work the system of record still expects."""

    upserts: tuple[tuple[Memory, int], ...]  # (memory, version)
    deletes: tuple[tuple[str, int], ...]  # (memory id, version)


@dataclass(frozen=True, slots=True)
class Retirement:
    """End a memory's validity (INVALIDATE): it stays stored and searchable as history. Applied
    only if the memory is active, still current and at ``expected_version`` (else Conflict)."""

    memory_id: str
    expected_version: int
    valid_to: datetime
    superseded_by: str
    rule: str


@dataclass(frozen=True, slots=True)
class Relation:
    """A stored relation with the memory it came from (for reconciliation)."""

    memory_id: str
    subject: str  # normalized entity name
    predicate: str
    object: str  # normalized entity name


@dataclass(frozen=True, slots=True)
class GraphDrift:
    """What the graph holds that nothing live explains: relations whose memory is deleted or
    missing, and entities without any relation. Counts and samples."""

    orphan_relations: int
    orphan_entities: int
    relation_samples: tuple[str, ...] = ()
    entity_samples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Cursor:
    """Keyset position for List: newest first by (created_at, id)."""

    created_at: datetime
    memory_id: str


class Lifecycle(Protocol):
    """Opening, closing and readiness: every store."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Answer a trivial query now, or raise (Unavailable when the store cannot be reached):
        readiness."""
        ...


class MemoryWrites(Protocol):
    """Writes to memories: each call is one transaction (see the module's notes on compare-and-set)."""

    async def add_memories(
        self,
        episode: Episode,
        memories: Sequence[Memory],
        history: Sequence[HistoryEntry],
        *,
        retire: Sequence[Retirement] = (),
        reinforce: Sequence[str] = (),
        aliases: Mapping[str, str] = {},
    ) -> None:
        """Record an episode and the memories distilled from it, in one transaction with what the
        reconciliation decided: ``retire`` ends the validity of earlier memories (and of their
        relations; version + 1, re-indexed), ``reinforce`` counts a confirmation of memories
        stated again (confirmations + 1, confirmed_at = the episode's time; no new version).
        ``aliases`` (description -> entity name) are kept in the episode's namespace.
        ``history`` holds the entries of every change (ADD, INVALIDATE, NOOP). Raises Conflict,
        writing nothing, when a retirement's memory is no longer current at its expected
        version."""

    async def replace_memory(self, memory: Memory, history: HistoryEntry, *, expected_version: int) -> None:
        """Replace text, triples and metadata of the memory, stored as ``memory.version``, if and
        only if it is active at ``expected_version``. Raises NotFound (no such memory, or
        deleted) or Conflict (another write came first); either way nothing changes."""

    async def delete_memories(
        self,
        ids: Sequence[str],
        *,
        at: datetime,
        expected_versions: Mapping[str, int] | None = None,
        actor: str = "system",
        rule: str = "api",
    ) -> dict[str, int]:
        """Tombstone the active memories among ``ids`` (only those at their expected version, when
        given), drop their relations, remove the entities no relation touches any more, and record
        a DELETE history entry each (old text and triples as stored, by ``actor``, for ``rule``:
        "api", "expired"). Returns id -> tombstone version of the memories this call deleted."""

    async def touch_memories(self, ids: Sequence[str], scope: Scope, at: datetime) -> int:
        """Record that the client used these memories at ``at`` (``last_used_at``, never moved
        back; no new version). Returns how many active memories in the scope were touched."""


class MemoryReads(Protocol):
    """Reads of memories and episodes, by id, scope, content hash or attribute."""

    async def get_memories(
        self,
        ids: Sequence[str],
        scope: Scope,
        filters: Sequence[MetadataFilter] = (),
        time_range: TimeRange | None = None,
        validity: Validity | None = None,
    ) -> dict[str, Memory]:
        """Active memories among ``ids`` that match scope, filters, time range and ``validity``
        (None: current and retired alike)."""

    async def get_all(self, ids: Sequence[str]) -> list[Memory]:
        """Active memories among ``ids`` whatever their scope (operator use only)."""

    async def get_any(self, memory_id: str, scope: Scope) -> Memory | None:
        """The memory in the scope whatever its state (active or deleted)."""

    async def list_memories(
        self,
        scope: Scope,
        filters: Sequence[MetadataFilter],
        limit: int,
        after: Cursor | None,
        *,
        include_retired: bool = True,
    ) -> list[Memory]: ...

    async def find_scope_ids(self, scope: Scope) -> list[str]:
        """Ids of the active memories matching the scope."""

    async def find_by_hash(self, scope: Scope, hashes: Sequence[str]) -> dict[str, str]:
        """hash -> id of current memories in exactly this scope with that content hash."""

    async def history(self, memory_id: str, scope: Scope) -> list[HistoryEntry] | None:
        """Oldest first; None when no memory (active or deleted) has that id in the scope."""

    async def attributed_memories(
        self, scope: Scope, validity: Validity | None = CURRENT, names: Sequence[str] = ()
    ) -> list[Memory]:
        """The active memories in ``scope`` that carry attributes (one named in ``names``, when
        given), valid per ``validity``; oldest reference time first."""

    async def episode_exists(self, episode_id: str) -> bool: ...

    async def expired_memories(self, now: datetime, limit: int) -> list[str]:
        """Ids of active memories whose ``expires_at`` is at or before ``now``, oldest expiry
        first."""

    async def count_memories(self) -> int: ...

    async def count_user_memories(self, user_id: str) -> int:
        """Current (active) memories of one user, every agent and run: the per-user quota."""


class FullText(Protocol):
    """The full-text retriever over memory texts."""

    async def lexical_search(
        self,
        scope: Scope,
        terms: Sequence[str],
        limit: int,
        filters: Sequence[MetadataFilter] = (),
        time_range: TimeRange | None = None,
        validity: Validity | None = None,
    ) -> list[tuple[str, float]]:
        """Memories in the scope whose text matches any of ``terms`` (OR), best first, as
        (memory id, score) with score > 0, higher better (BM25 or the store's full-text score;
        only the order within one call is meaningful). Applied inside the store, before the
        limit: scope, metadata filters, time range and validity exactly as get_memories applies
        them, and only active memories. ``terms`` are plain words chosen by the caller (stop words
        already removed); the store escapes them for its query language. Empty terms -> []."""


class EntityGraph(Protocol):
    """Entities and relations: linking names, walks from them, subgraphs and paths."""

    async def find_relations(
        self, scope: Scope, subjects: Sequence[str], predicates: Sequence[str], objects: Sequence[str] = ()
    ) -> list[Relation]:
        """The current relations visible in ``scope`` whose subject is one of ``subjects`` and
        whose predicate is one of ``predicates`` or object one of ``objects`` (entity names
        compared by :func:`norm`, predicates exactly)."""

    async def resolve_aliases(self, scope: Scope, names: Sequence[str]) -> dict[str, str]:
        """name -> the entity name it is a known alias of, for the names that are aliases in the
        scope's namespace (compared by :func:`norm`)."""

    async def link_entities(self, scope: Scope, names: Sequence[str]) -> list[str]:
        """The canonical names of known entities among ``names`` (case-insensitive)."""

    async def memory_entities(self, memory_ids: Sequence[str]) -> dict[str, list[str]]:
        """Entity names each memory's relations touch."""

    async def expand(
        self, scope: Scope, seeds: Sequence[str], depth: int, max_paths: int, validity: Validity = CURRENT
    ) -> list[Path]:
        """Walks of 1..depth edges from the seeds over the relations visible in ``scope`` and
        valid per ``validity``, at most ``max_paths`` of them, shortest first across the seeds:
        every seed's one-edge walks in seed order, then their two-edge walks, and so on."""

    async def subgraph(
        self, scope: Scope, entity: str, depth: int, limit: int, validity: Validity = CURRENT
    ) -> Subgraph | None:
        """None when the entity is unknown in the scope (or has no relation valid per
        ``validity``). Entities carry their aliases."""

    async def paths_between(
        self, scope: Scope, source: str, target: str, max_depth: int, limit: int, validity: Validity = CURRENT
    ) -> list[Path] | None:
        """None when either entity is unknown in the scope."""


class OperationLog(Protocol):
    """The operation log of asynchronous Adds: durable, claimed under a lease by one worker."""

    async def enqueue_operation(self, op: Operation, limit: int) -> None:
        """Record a PENDING operation durably. Raises ResourceExhausted, writing nothing, when
        ``limit`` operations are already unfinished."""

    async def get_operation(self, operation_id: str) -> Operation | None: ...

    async def unfinished_operations(self, limit: int) -> list[Operation]:
        """PENDING and RUNNING operations, in the order they were recorded."""

    async def count_unfinished_operations(self) -> int: ...

    async def claim_operation(self, operation_id: str, owner: str, now: datetime, lease_until: datetime) -> bool:
        """Make ``owner`` the one worker that runs the operation (status RUNNING, attempts + 1) if
        it is PENDING, or RUNNING under a lease that has run out (a worker that died) or under
        ``owner`` itself. False when someone else holds it or it is done."""

    async def finish_operation(
        self, operation_id: str, owner: str, status: OperationStatus, *, result: str, error: str, at: datetime
    ) -> bool:
        """Record the outcome (SUCCEEDED/FAILED, or PENDING to give it back for a retry) if
        ``owner`` still holds the operation."""


class GrantStore(Protocol):
    """Grants between agents of one user."""

    async def put_grant(self, grant: Grant) -> Grant:
        """Store the grant unless the same (user, owner, grantee) grant is active already; returns
        the active grant."""

    async def revoke_grant(self, user_id: str, owner_agent: str, grantee_agent: str, at: datetime, by: str) -> bool:
        """End the active grant (kept, with ``revoked_at``). False when there was none."""

    async def list_grants(
        self, user_id: str, *, owner_agent: str = "", grantee_agent: str = "", include_revoked: bool = False
    ) -> list[Grant]:
        """Grants about ``user_id`` (optionally of one owner or grantee), oldest first."""


class IndexLedger(Protocol):
    """Consistency with the vector index: what it must hold, what it holds, and drift."""

    async def pending_index(self, limit: int) -> PendingIndex: ...

    async def mark_indexed(self, done: Mapping[str, int]) -> set[str]:
        """Mark memory id -> version as reflected in the vector index. Returns the ids whose stored
        version is no longer that one (a later write happened): their vector may be stale."""

    async def index_targets(self, ids: Sequence[str]) -> PendingIndex:
        """What the vector index must hold for ``ids`` now, whatever their marks: active memories
        as upserts, tombstones as deletes (unknown ids are left out)."""

    async def index_state(self) -> dict[str, bool]:
        """Every memory id with whether it should have a vector (active)."""

    async def graph_drift(self, samples: int = 10) -> GraphDrift:
        """Orphan relations and entities (should be none: deletes cascade)."""


class ErasureLog(Protocol):
    """Erasure of a scope: recorded before anything is removed, resumed after a crash."""

    async def begin_erasure(self, erasure: Erasure) -> None:
        """Record the request (before anything is removed)."""

    async def unfinished_erasures(self) -> list[Erasure]:
        """Erasures recorded and not completed, oldest first: resumed at start-up."""

    async def get_erasure(self, erasure_id: str) -> Erasure | None: ...

    async def erase_scope(self, erasure_id: str, scope: Scope) -> ErasureCounts:
        """In one transaction: remove every memory matching ``scope`` as a read filter (current,
        retired, tombstones), their relations and history, the episodes left without memories,
        the entities left without relations in the affected namespaces, the operations of the
        scope (pending or finished) and the grants naming it; add the counts to the erasure's
        record. Idempotent: a second call finds nothing and counts zero."""

    async def finish_erasure(self, erasure_id: str, vectors: int, at: datetime, pseudonym: Scope) -> Erasure:
        """Add the vector count, mark the erasure completed and replace its scope by ``pseudonym``
        (digests of the ids: nothing of the erased scope stays in the store); returns the receipt.
        Only the first call changes anything."""


class GraphStore(
    Lifecycle,
    MemoryWrites,
    MemoryReads,
    FullText,
    EntityGraph,
    OperationLog,
    GrantStore,
    IndexLedger,
    ErasureLog,
    Protocol,
):
    """recalld's system of record: every concern above. Each backend implements all of it;
    each service is handed only the ports it uses."""


class WalkingGraphStore(Protocol):
    """An optional capability of a GraphStore: the walks of ``expand`` as index tuples
    (recalld.kernel.walks), without a Path object per walk. A store walking in-process has them
    for free; retrieval converts any other store's paths itself (``Walks.of``)."""

    async def expand_walks(
        self, scope: Scope, seeds: Sequence[str], depth: int, max_paths: int, validity: Validity = CURRENT
    ) -> Walks:
        """Exactly the walks of ``expand`` with the same arguments, in its order."""


# -- the vector index -------------------------------------------------------------------------

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class VectorRecord:
    """One memory's embedding with the scalar fields the store filters on."""

    id: str
    vector: Sequence[float]
    scope: Scope
    reference_time: datetime
    metadata: Metadata
    valid_from: datetime | None = None  # None: reference_time
    valid_to: datetime | None = None  # None: still valid


@dataclass(frozen=True, slots=True)
class VectorHit:
    id: str
    score: float  # cosine similarity


class CredentialStore(Protocol):
    """API keys (hashed) and the tenants that exist: the control plane, kept in the default
    tenant's graph store."""

    async def put_api_key(self, key: ApiKey) -> None: ...

    async def get_api_key(self, key_id: str) -> ApiKey | None: ...

    async def list_api_keys(self, tenant: str, *, include_revoked: bool = False) -> list[ApiKey]:
        """Oldest first; ``tenant`` "" lists every tenant's."""

    async def revoke_api_key(self, key_id: str, at: datetime, by: str) -> ApiKey | None:
        """Mark the key revoked (kept for the audit trail); the key as stored after, or None."""

    async def register_tenant(self, tenant: str, at: datetime) -> None:
        """Remember that ``tenant`` has stores (idempotent)."""

    async def list_tenants(self) -> list[str]: ...


class SystemOfRecord(GraphStore, CredentialStore, Protocol):
    """What a graph backend implements: every concern of the graph store, and the credentials
    and tenant registry the default tenant's store keeps."""


class NeighbourSearch(Protocol):
    """The nearest memories of several vectors at once: what reconciliation asks of the vector side
    (an Add's facts against the scope's memories)."""

    async def search_many(
        self,
        vectors: Vectors | Sequence[Sequence[float]],
        scope: Scope,
        limit: int,
        validity: Validity = CURRENT,
        *,
        may_lag: bool = False,
    ) -> list[list[VectorHit]]:
        """:meth:`search` for several vectors in one request (reconciliation of a many-fact Add).
        ``may_lag``: the answer may miss the last moments of writes instead of waiting for them."""


class VectorStore(NeighbourSearch, Protocol):
    """A derived index of memory embeddings. Every query is scoped inside the
    store (scope, metadata and time filters are part of the store's query)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Answer a trivial request now, or raise (Unavailable when the store cannot be reached)."""
        ...

    async def upsert(self, records: Sequence[VectorRecord]) -> None: ...

    async def delete_scope(self, scope: Scope) -> int:
        """Delete every vector whose scope matches ``scope`` as a read filter; how many."""

    async def delete(self, ids: Sequence[str]) -> None: ...

    async def search(
        self,
        vector: Sequence[float],
        scope: Scope,
        limit: int,
        filters: Sequence[MetadataFilter] = (),
        time_range: TimeRange | None = None,
        validity: Validity = CURRENT,
        ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """Nearest memories in ``scope`` matching filters, time range and ``validity`` (and, when
        ``ids`` is given, among those ids only)."""

    async def all_ids(self) -> set[str]: ...


class Embedder(Protocol):
    """Text -> unit-length vectors, batched."""

    @property
    def dim(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> Vectors: ...


# -- extraction ------------------------------------------------------------------------------------


class Extractor(Protocol):
    """Distils conversation messages into facts.

    ``default_speaker`` is the entity first-person speech maps to when a message
    carries no ``name`` (the scope's user); ``reference_time`` is when the messages were
    said (relative dates resolve against it). Implementations must never turn a
    negated statement into a positive triple.
    """

    async def extract(
        self, messages: Sequence[ChatMessage], *, default_speaker: str, reference_time: datetime | None = None
    ) -> list[Fact]: ...

    async def analyze_query(self, query: str, *, speaker: str) -> QueryAnalysis: ...


# -- reconciliation judge ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JudgeCase:
    """A fact the rules could not settle and the current memories it may concern (their texts
    only: a judge never sees memory ids)."""

    fact: str
    candidates: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JudgeVerdict:
    """What to do with a case's fact: "add", "noop" (it repeats ``candidate``), "update" (it
    corrects ``candidate``; ``text`` is the corrected memory) or "invalidate" (it makes
    ``candidate`` no longer hold). ``candidate`` indexes the case's candidates."""

    action: str
    candidate: int | None = None
    text: str = ""


class Judge(Protocol):
    async def judge(self, cases: Sequence[JudgeCase]) -> list[JudgeVerdict | None]:
        """One verdict per case, None where the judge has none (the rules' ADD stands)."""
