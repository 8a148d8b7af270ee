"""The memory pipeline: Add, Get, List, Update, Delete, DeleteAll, History.

Knows the stores only through their protocols and nothing of gRPC. Every request is validated
before anything is written, and every write is one graph store transaction followed by the vector
index sync (see recalld.core.indexing), so a failed request leaves nothing half-written.

An Add reads, plans and writes: the facts are extracted (and embedded, early when it can), the
memories they could change are read and decided on (recalld.core.deciding), the plan is made
without any I/O (recalld.core.add_plan), and the writer applies it in one transaction that
re-checks every version it was made on (recalld.core.add_writer); a conflict decides again.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import numpy as np

from recalld.core.add_plan import actor, canonical, content_hash, pending_facts, plan_add, valid_from
from recalld.core.add_writer import AddWriter, IndexSink
from recalld.core.ahead import Ahead, Early, Ready, likely_facts
from recalld.core.bulk import PendingIndex
from recalld.core.classify import SlotFallback
from recalld.core.deciding import Reconciler
from recalld.core.fence import ScopeFence
from recalld.core.indexing import Indexer
from recalld.core.profile import ProfileValue, build_profile
from recalld.core.reconcile import Action, Decision
from recalld.core.settings import Limits, ReconcileSettings
from recalld.kernel.domain import (
    CURRENT,
    ChatMessage,
    Episode,
    EventKind,
    Fact,
    HistoryEntry,
    Memory,
    MemoryEvent,
    Metadata,
    MetadataFilter,
    Scope,
    Validity,
)
from recalld.kernel.errors import Conflict, InvalidArgument, NotFound, ResourceExhausted
from recalld.kernel.filters import validate_filters
from recalld.kernel.ports import (
    Cursor,
    Embedder,
    EntityGraph,
    Extractor,
    Judge,
    MemoryReads,
    MemoryWrites,
    NeighbourSearch,
    Vectors,
)
from recalld.kernel.requests import AddCommand
from recalld.kernel.times import from_micros, to_micros
from recalld.kernel.validation import validate_memory_id, validate_new_scope, validate_scope

log = logging.getLogger(__name__)

_ADD_ATTEMPTS = 3  # an Add whose retirement lost a race is decided again this many times in all

__all__ = ["MemoryPipeline", "MemoryStore", "content_hash", "decode_cursor", "encode_cursor"]


def encode_cursor(c: Cursor) -> str:
    """A page token: the keyset position as [created_at in integer microseconds, memory id]."""
    raw = json.dumps([to_micros(c.created_at), c.memory_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        us, mid = json.loads(raw)
        if not isinstance(us, int) or isinstance(us, bool) or not isinstance(mid, str):
            raise TypeError("not [int, str]")
        return Cursor(from_micros(us), mid)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidArgument("page_token is invalid; pass next_page_token from a previous List") from exc


class MemoryStore(MemoryWrites, MemoryReads, EntityGraph, Protocol):
    """The graph store as the Add pipeline uses it: memories read and written, and the entities
    and relations reconciliation compares against."""


class MemoryPipeline:
    def __init__(
        self,
        *,
        graph: MemoryStore,
        vector: NeighbourSearch,
        embedder: Embedder,
        extractor: Extractor,
        indexer: Indexer,
        limits: Limits,
        reconcile: ReconcileSettings,
        session_ttl: timedelta | None = None,
        judge: Judge | None = None,
        fence: ScopeFence | None = None,
        index_sink: IndexSink | None = None,
    ) -> None:
        """``vector``: the neighbour search reconciliation asks; ``judge``: decides the facts the
        rules leave as plain ADDs although similar memories exist (LLM-assisted reconciliation),
        None: the rules alone; ``index_sink``: where an Add's memories are indexed (default: the
        indexer, right away)."""
        self._session_ttl = session_ttl
        self._judge = judge
        self._fence = fence or ScopeFence()
        self._graph = graph
        self._vector = vector
        self._reconcile = reconcile
        self._embedder = embedder
        self._extractor = extractor
        self._indexer = indexer
        self._limits = limits
        self._slots = SlotFallback(embedder, reconcile) if reconcile.slot_fallback else None
        self._decider = Reconciler(graph=graph, neighbours=vector, settings=reconcile, slots=self._slots, judge=judge)
        self._writer = AddWriter(graph=graph, embedder=embedder, extractor=extractor, sink=index_sink or indexer)

    def batched(self) -> tuple[MemoryPipeline, PendingIndex]:
        """A pipeline over the same stores whose Adds leave their vectors in a
        :class:`PendingIndex` (flush it), seen by their reconciliation: a bulk import's batch."""
        pending = PendingIndex(sink=self._indexer, neighbours=self._vector, embedder=self._embedder)
        twin = MemoryPipeline(
            graph=self._graph, vector=pending, embedder=self._embedder, extractor=self._extractor,
            indexer=self._indexer, limits=self._limits, reconcile=self._reconcile, session_ttl=self._session_ttl,
            judge=self._judge, fence=self._fence, index_sink=pending,
        )  # fmt: skip
        return twin, pending

    # -- validation ------------------------------------------------------------
    def _check_metadata(self, metadata: Metadata) -> None:
        try:
            size = len(json.dumps(metadata, allow_nan=False).encode())
        except ValueError as exc:
            raise InvalidArgument(f"metadata is not valid JSON: {exc}") from None
        if size > self._limits.max_metadata_bytes:
            raise ResourceExhausted(f"metadata is {size} bytes; the limit is {self._limits.max_metadata_bytes} bytes")

    def _check_messages(self, messages: Sequence[ChatMessage]) -> None:
        if not messages:
            raise InvalidArgument("messages must not be empty")
        if len(messages) > self._limits.max_messages:
            raise ResourceExhausted(f"{len(messages)} messages; the limit is {self._limits.max_messages} per Add")
        for i, m in enumerate(messages):
            if not m.content.strip():
                raise InvalidArgument(f"messages[{i}].content is empty")
            if len(m.content) > self._limits.max_message_chars:
                raise ResourceExhausted(
                    f"messages[{i}].content has {len(m.content)} characters; "
                    f"the limit is {self._limits.max_message_chars}"
                )
            if m.role.lower() not in {"user", "assistant", "system", "tool"}:
                raise InvalidArgument(f"messages[{i}].role {m.role!r} is not one of user, assistant, system, tool")
            if len(m.name) > 256:
                raise InvalidArgument(f"messages[{i}].name is longer than 256 characters")

    def check_add(self, cmd: AddCommand) -> None:
        """Everything an Add checks before it does anything (an asynchronous Add checks it before
        it is recorded)."""
        validate_new_scope(cmd.scope)
        if cmd.scope.exact:
            raise InvalidArgument("scope.exact is a read option; an Add stores into the scope as given")
        self._check_messages(cmd.messages)
        self._check_metadata(dict(cmd.metadata or {}))
        if cmd.importance is not None and not 0.0 <= cmd.importance <= 1.0:
            raise InvalidArgument(f"importance must be between 0 and 1, not {cmd.importance}")
        if cmd.ttl is not None and cmd.ttl <= timedelta(0):
            raise InvalidArgument("ttl must be positive")

    async def check_quota(self, scope: Scope) -> None:
        limit = self._limits.max_memories_per_user
        if not limit or not scope.user_id:
            return
        held = await self._graph.count_user_memories(scope.user_id)
        if held >= limit:
            raise ResourceExhausted(
                f"limit max_memories_per_user={limit} reached: user {scope.user_id!r} holds {held} current "
                "memories; delete or erase some first (retrying will not help)"
            )

    # -- Add -------------------------------------------------------------------------
    async def add(self, cmd: AddCommand) -> tuple[str, list[MemoryEvent]]:
        """:meth:`_add` inside the scope's fence (refused while the scope is being erased), after
        the per-user quota."""
        self.check_add(cmd)
        async with self._fence.writing(cmd.scope):
            await self.check_quota(cmd.scope)
            return await self._add(cmd)

    async def _add(self, cmd: AddCommand) -> tuple[str, list[MemoryEvent]]:
        """Distil the messages into facts and reconcile each with what the scope holds (see
        recalld.core.reconcile). Everything one Add decides is written in one graph-store
        transaction; if a memory it retires changed meanwhile, the Add is decided again."""
        scope, messages, infer = cmd.scope, cmd.messages, cmd.infer
        now = datetime.now(UTC)
        ref = cmd.reference_time or now
        # Most chat turns are one sentence, and a one-sentence message is its own fact: embed it
        # (and look up its neighbours) while spaCy parses, instead of after.
        neighbours = self._reconcile.neighbours if infer and self._reconcile.enabled else 0
        ahead = Ahead(self._embedder, self._vector, scope, likely_facts(messages, infer), neighbours=neighbours)
        try:
            if infer:
                facts = await self._extractor.extract(messages, default_speaker=scope.speaker, reference_time=ref)
            else:
                facts = [Fact(text=m.content.strip(), speaker=m.name or scope.speaker) for m in messages]
            facts, aliases = await self.resolve_entities(scope, facts)
        except BaseException:
            ahead.cancel()
            raise
        return await self._write_episode(_episode(cmd, now, ref), facts, aliases, ahead, cmd)

    async def add_extracted(
        self, cmd: AddCommand, facts: Sequence[Fact], vectors: Mapping[str, np.ndarray]
    ) -> tuple[str, list[MemoryEvent]]:
        """An Add of facts already extracted from ``cmd.messages`` (and texts already embedded:
        ``vectors``, text -> vector): the same episode, decisions and writes, inside the scope's
        fence. Checks and quota are the caller's (the importer checks each item when it arrives
        and the quota once per batch)."""
        async with self._fence.writing(cmd.scope):
            now = datetime.now(UTC)
            resolved, aliases = await self.resolve_entities(cmd.scope, facts)
            episode = _episode(cmd, now, cmd.reference_time or now)
            return await self._write_episode(episode, resolved, aliases, Ready(vectors), cmd)

    async def _write_episode(
        self, episode: Episode, facts: Sequence[Fact], aliases: dict[str, str], early: Early, cmd: AddCommand
    ) -> tuple[str, list[MemoryEvent]]:
        """Decide and write an episode's facts; if a memory it retires changed meanwhile, decide
        again (the vectors found early are used on the first attempt only). Memories of a run
        without a ``ttl`` expire after the session lifetime."""
        ttl = cmd.ttl
        if ttl is None and episode.scope.run_id and self._session_ttl is not None:
            ttl = self._session_ttl
        expires_at = episode.created_at + ttl if ttl is not None else None
        importance = 0.5 if cmd.importance is None else cmd.importance
        for attempt in range(1, _ADD_ATTEMPTS + 1):
            try:
                return episode.id, await self._add_once(
                    episode, facts, aliases, reconcile=cmd.infer, early=early if attempt == 1 else Early(),
                    importance=importance, expires_at=expires_at,
                )  # fmt: skip
            except Conflict:
                if attempt == _ADD_ATTEMPTS:
                    raise
                log.info("add raced with another write (attempt %d); deciding again", attempt)
        raise AssertionError("unreachable")

    async def _add_once(
        self,
        episode: Episode,
        facts: Sequence[Fact],
        aliases: dict[str, str],
        *,
        reconcile: bool,
        early: Early,
        importance: float,
        expires_at: datetime | None,
    ) -> list[MemoryEvent]:
        """Read, plan, write. Exact repeats (already current in this scope, or repeated in this
        call) are NOOPs; the others are decided on the memories they could change."""
        scope, ref = episode.scope, episode.reference_time
        hashes = [content_hash(f.text) for f in facts]
        known = await self._graph.find_by_hash(scope, hashes)
        pending = pending_facts(facts, hashes, known)
        texts = [f.text for f, _ in pending]
        early_vectors, early_hits = await early.result(texts)
        vectors = early_vectors if early_vectors is not None else await self._embedder.embed(texts)
        starts = [valid_from(f, ref) for f, _ in pending]
        deciding = reconcile and self._reconcile.enabled
        said = [f for f, _ in pending]
        decisions: list[Decision] = [Decision(Action.ADD, "new_fact") for _ in pending]
        current: dict[str, Memory] = {}
        if deciding and pending:
            decisions, current = await self._decider.decide(scope, said, vectors, starts, early_hits, ref)
        if deciding and any(f.attributes for f in said):
            decisions = await self._decider.decide_attributes(scope, said, decisions, current)
        plan = plan_add(
            episode, hashes, known, pending, decisions, starts, current, importance=importance, expires_at=expires_at
        )
        return await self._writer.write(plan, vectors, aliases)

    async def resolve_entities(self, scope: Scope, facts: Sequence[Fact]) -> tuple[list[Fact], dict[str, str]]:
        """Names that are known aliases ("bob's cat" once "my cat Luna" was said) become the
        entity they name; returns the facts and the aliases this Add teaches."""
        taught: dict[str, str] = {}
        for f in facts:
            taught.update(f.aliases)
        names = sorted({x for f in facts for t in f.triples for x in (t.subject, t.object)} - taught.keys())
        known = await self._graph.resolve_aliases(scope, names) if names else {}
        known.update(taught)
        return canonical(facts, known), taught

    # -- what a bulk import needs besides Adds (recalld.core.importer) ---------------
    async def episodes_recorded(self, episode_ids: Sequence[str]) -> set[str]:
        found = await asyncio.gather(*(self._graph.episode_exists(i) for i in episode_ids))
        return {i for i, yes in zip(episode_ids, found, strict=True) if yes}

    async def extract_many(self, requests: Sequence[tuple[Sequence[ChatMessage], str, datetime]]) -> list[list[Fact]]:
        """Facts of each (messages, default speaker, reference time), as :meth:`Extractor.extract`
        gives them one call at a time; one batched pass when the extractor has ``extract_many``."""
        many = getattr(self._extractor, "extract_many", None)
        if many is not None:
            found: list[list[Fact]] = await many([(m, s) for m, s, _ in requests])
            return found
        calls = (self._extractor.extract(m, default_speaker=s, reference_time=r) for m, s, r in requests)
        return list(await asyncio.gather(*calls))

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return await self._embedder.embed(texts)

    # -- reads -----------------------------------------------------------------------
    async def get(self, scope: Scope, memory_id: str) -> Memory:
        validate_scope(scope)
        validate_memory_id(memory_id)
        found = await self._graph.get_memories([memory_id], scope)
        if memory_id not in found or found[memory_id].expired(datetime.now(UTC)):
            raise NotFound(f"memory {memory_id} not found in this scope")
        return found[memory_id]

    async def list_memories(
        self,
        scope: Scope,
        *,
        page_size: int = 100,
        page_token: str = "",
        filters: Sequence[MetadataFilter] = (),
        include_retired: bool = True,
    ) -> tuple[list[Memory], str]:
        validate_scope(scope)
        validate_filters(filters)
        if page_size == 0:
            page_size = 100
        if not 1 <= page_size <= 1000:
            raise InvalidArgument("page_size must be between 1 and 1000")
        after = decode_cursor(page_token) if page_token else None
        rows = await self._graph.list_memories(scope, filters, page_size + 1, after, include_retired=include_retired)
        page = rows[:page_size]
        token = encode_cursor(Cursor(page[-1].created_at, page[-1].id)) if len(rows) > page_size else ""
        now = datetime.now(UTC)  # expired and not pruned yet: already gone for readers
        return [m for m in page if not m.expired(now)], token

    async def profile(self, views: Sequence[Scope], validity: Validity = CURRENT) -> list[ProfileValue]:
        """The attributes the memories visible through ``views`` state, valid per ``validity``
        (recalld.core.profile.build_profile)."""
        now = datetime.now(UTC)
        found: dict[str, Memory] = {}
        for view in views:
            for m in await self._graph.attributed_memories(view, validity):
                if not m.expired(now):
                    found[m.id] = m
        return build_profile(found.values())

    async def mark_used(self, scope: Scope, memory_ids: Sequence[str], at: datetime | None = None) -> int:
        """The client used these memories (e.g. acted on Search hits): their decay restarts."""
        validate_scope(scope)
        if not memory_ids:
            raise InvalidArgument("memory_ids must not be empty")
        if len(memory_ids) > 1000:
            raise InvalidArgument("at most 1000 memory_ids per call")
        for i in memory_ids:
            validate_memory_id(i)
        return await self._graph.touch_memories(memory_ids, scope, at or datetime.now(UTC))

    async def prune_expired(self, now: datetime | None = None, batch: int = 500) -> int:
        """Delete the memories whose TTL ran out, like a Delete (history entry with rule
        "expired", relations and vector dropped). Returns how many were deleted."""
        now = now or datetime.now(UTC)
        deleted = 0
        while ids := await self._graph.expired_memories(now, batch):
            done = await self._graph.delete_memories(ids, at=now, actor="system", rule="expired")
            await self._drop_quietly(done)
            deleted += len(done)
            if len(ids) < batch:
                break
        if deleted:
            log.info("pruned %d expired memories", deleted)
        return deleted

    async def history(self, scope: Scope, memory_id: str) -> list[HistoryEntry]:
        validate_scope(scope)
        validate_memory_id(memory_id)
        entries = await self._graph.history(memory_id, scope)
        if entries is None:
            raise NotFound(f"memory {memory_id} not found in this scope")
        return entries

    # -- Update / Delete ---------------------------------------------------------------
    async def update(
        self,
        scope: Scope,
        memory_id: str,
        text: str,
        metadata: Metadata | None = None,
        *,
        expected_version: int = 0,
        expires_at: datetime | None = None,
        clear_expiry: bool = False,
        importance: float | None = None,
    ) -> Memory:
        """:meth:`_update` inside the scope's fence (refused while the scope is being erased)."""
        async with self._fence.writing(scope):
            return await self._update(
                scope, memory_id, text, metadata, expected_version=expected_version, expires_at=expires_at,
                clear_expiry=clear_expiry, importance=importance,
            )  # fmt: skip

    async def _update(
        self,
        scope: Scope,
        memory_id: str,
        text: str,
        metadata: Metadata | None = None,
        *,
        expected_version: int = 0,
        expires_at: datetime | None = None,
        clear_expiry: bool = False,
        importance: float | None = None,
    ) -> Memory:
        """Replace a memory's text (and metadata), its expiry or its importance. The write is a
        compare-and-set on the version this call read (or ``expected_version`` when the caller
        gives one): a concurrent Update makes it fail with Conflict, a concurrent Delete with
        NotFound, and nothing changes. An empty ``text`` keeps the text (and relations) when
        another field changes."""
        validate_scope(scope)
        validate_memory_id(memory_id)
        text = text.strip()
        lifecycle = expires_at is not None or clear_expiry or importance is not None
        if expires_at is not None and clear_expiry:
            raise InvalidArgument("set expires_at or clear_expiry, not both")
        if importance is not None and not 0.0 <= importance <= 1.0:
            raise InvalidArgument(f"importance must be between 0 and 1, not {importance}")
        if not text and not lifecycle:
            raise InvalidArgument("text must not be empty")
        if len(text) > self._limits.max_text_chars:
            raise ResourceExhausted(f"text has {len(text)} characters; the limit is {self._limits.max_text_chars}")
        if expected_version < 0:
            raise InvalidArgument("expected_version must not be negative (0: the version the server reads)")
        if metadata is not None:
            self._check_metadata(metadata)
        old = await self.get(scope, memory_id)
        _check_expected(old, expected_version)
        now = datetime.now(UTC)
        new = replace(
            old,
            metadata=dict(metadata) if metadata is not None else old.metadata,
            updated_at=now,
            version=old.version + 1,
            expires_at=None if clear_expiry else (expires_at or old.expires_at),
            importance=old.importance if importance is None else importance,
        )
        vectors = None  # same text: the indexer re-embeds it for the new version
        if text:
            facts = await self._extractor.extract([ChatMessage("user", text)], default_speaker=old.scope.speaker)
            new = replace(
                new,
                text=text,
                triples=tuple(t for f in facts for t in f.triples),
                attributes=tuple(dict.fromkeys(a for f in facts for a in f.attributes)),
                content_hash=content_hash(text),
            )
            vectors = await self._embedder.embed([text])
        rule = "api" if text else "lifecycle"
        entry = HistoryEntry(memory_id, EventKind.UPDATE, old.text, new.text, now, actor(scope), rule, "",
                             old.triples, new.triples)  # fmt: skip
        await self._graph.replace_memory(new, entry, expected_version=old.version)
        await self._writer.sync_quietly([new], vectors)
        return new

    async def delete(self, scope: Scope, memory_id: str, *, expected_version: int = 0) -> None:
        """Tombstone one memory. Without ``expected_version`` it deletes whatever version is
        current when the store's transaction runs; with it, only that version (else Conflict)."""
        if expected_version < 0:
            raise InvalidArgument("expected_version must not be negative (0: whatever version is current)")
        old = await self.get(scope, memory_id)
        _check_expected(old, expected_version)
        expected = {memory_id: expected_version} if expected_version else None
        done = await self._graph.delete_memories(
            [memory_id], at=datetime.now(UTC), expected_versions=expected, actor=actor(scope)
        )
        if memory_id not in done:
            # Deleted or changed between our read and the store's transaction.
            current = await self._graph.get_memories([memory_id], scope)
            if memory_id in current:
                _check_expected(current[memory_id], expected_version)
            raise NotFound(f"memory {memory_id} not found in this scope")
        await self._drop_quietly(done)

    async def delete_all(self, scope: Scope) -> int:
        validate_scope(scope)
        ids = await self._graph.find_scope_ids(scope)
        deleted = 0
        for i in range(0, len(ids), 1000):
            done = await self._graph.delete_memories(ids[i : i + 1000], at=datetime.now(UTC), actor=actor(scope))
            await self._drop_quietly(done)
            deleted += len(done)
        return deleted

    async def _drop_quietly(self, done: dict[str, int]) -> None:
        try:
            await self._indexer.drop(done)
        except Exception:
            log.exception("vector delete failed for %d memories; left for the reconciler", len(done))


def _episode(cmd: AddCommand, now: datetime, reference_time: datetime) -> Episode:
    return Episode(
        id=cmd.episode_id or str(uuid.uuid4()),
        scope=cmd.scope,
        messages=tuple(cmd.messages),
        metadata=dict(cmd.metadata or {}),
        reference_time=reference_time,
        created_at=now,
    )


def _check_expected(memory: Memory, expected_version: int) -> None:
    if expected_version and memory.version != expected_version:
        raise Conflict(
            f"memory {memory.id} is at version {memory.version}, not the expected version {expected_version}; "
            "read it again and retry"
        )
