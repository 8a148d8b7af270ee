"""The memory pipeline: Add, Get, List, Update, Delete, DeleteAll, History.

Knows the stores only through their protocols and nothing of gRPC. Every
request is validated before anything is written, and every write is one graph
store transaction followed by the vector index sync (see recalld.core.indexing),
so a failed request leaves nothing half-written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from recalld.core.indexing import Indexer
from recalld.core.settings import Limits
from recalld.kernel.domain import (
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
)
from recalld.kernel.errors import Conflict, InvalidArgument, NotFound, ResourceExhausted
from recalld.kernel.filters import validate_filters
from recalld.kernel.ports import Cursor, Embedder, Extractor, GraphStore, Vectors
from recalld.kernel.times import from_micros, to_micros

log = logging.getLogger(__name__)

_SCOPE_VALUE = re.compile(r"^[^\x00-\x1f]{1,256}$")
_MEMORY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def validate_scope(scope: Scope) -> None:
    if scope.is_empty:
        raise InvalidArgument("scope is required: set at least one of user_id, agent_id, run_id")
    for name, value in scope.items():
        if not _SCOPE_VALUE.match(value):
            raise InvalidArgument(f"scope.{name} must be 1-256 characters without control characters")


def validate_memory_id(memory_id: str) -> None:
    if not memory_id:
        raise InvalidArgument("memory_id is required")
    if not _MEMORY_ID.match(memory_id):
        raise InvalidArgument(f"memory_id {memory_id[:80]!r} is not a memory id (a lowercase UUID)")


def content_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.casefold().split()).encode()).hexdigest()


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


class MemoryPipeline:
    def __init__(
        self,
        *,
        graph: GraphStore,
        embedder: Embedder,
        extractor: Extractor,
        indexer: Indexer,
        limits: Limits,
    ) -> None:
        self._graph = graph
        self._embedder = embedder
        self._extractor = extractor
        self._indexer = indexer
        self._limits = limits

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

    # -- Add -------------------------------------------------------------------------
    async def add(
        self,
        scope: Scope,
        messages: Sequence[ChatMessage],
        *,
        metadata: Metadata | None = None,
        reference_time: datetime | None = None,
        infer: bool = True,
    ) -> tuple[str, list[MemoryEvent]]:
        validate_scope(scope)
        self._check_messages(messages)
        meta = dict(metadata or {})
        self._check_metadata(meta)
        now = datetime.now(UTC)
        ref = reference_time or now

        if infer:
            facts = await self._extractor.extract(messages, default_speaker=scope.speaker)
        else:
            facts = [Fact(text=m.content.strip(), speaker=m.name or scope.speaker) for m in messages]

        # Exact duplicates (already known in this scope, or repeated in this call) are NOOPs.
        hashes = [content_hash(f.text) for f in facts]
        known = await self._graph.find_by_hash(scope, hashes)
        events: list[MemoryEvent] = []
        fresh: list[Memory] = []
        seen: set[str] = set()
        for fact, h in zip(facts, hashes, strict=True):
            if h in known or h in seen:
                continue
            seen.add(h)
            fresh.append(
                Memory(
                    id=str(uuid.uuid4()),
                    text=fact.text,
                    scope=scope,
                    metadata=meta,
                    created_at=now,
                    updated_at=now,
                    reference_time=ref,
                    triples=fact.triples,
                    content_hash=h,
                )
            )
        noop_ids = [known[h] for h in dict.fromkeys(hashes) if h in known]
        vectors = await self._embedder.embed([m.text for m in fresh])

        episode = Episode(
            id=str(uuid.uuid4()),
            scope=scope,
            messages=tuple(messages),
            metadata=meta,
            reference_time=ref,
            created_at=now,
        )
        fresh = [replace(m, episode_id=episode.id) for m in fresh]
        history = [HistoryEntry(m.id, EventKind.ADD, "", m.text, now) for m in fresh]
        await self._graph.add_memories(episode, fresh, history)  # durable from here on
        await self._sync_quietly(fresh, vectors)

        events = [MemoryEvent(m, EventKind.ADD) for m in fresh]
        if noop_ids:
            existing = await self._graph.get_memories(noop_ids, scope)
            events += [MemoryEvent(existing[i], EventKind.NOOP) for i in noop_ids if i in existing]
        return episode.id, events

    async def _sync_quietly(self, memories: Sequence[Memory], vectors: Vectors | None = None) -> None:
        """Index right away; on failure the write stays pending for the reconciler."""
        try:
            await self._indexer.sync(memories, vectors)
        except Exception:
            log.exception("vector index sync failed for %d memories; left for the reconciler", len(memories))

    # -- reads -----------------------------------------------------------------------
    async def get(self, scope: Scope, memory_id: str) -> Memory:
        validate_scope(scope)
        validate_memory_id(memory_id)
        found = await self._graph.get_memories([memory_id], scope)
        if memory_id not in found:
            raise NotFound(f"memory {memory_id} not found in this scope")
        return found[memory_id]

    async def list_memories(
        self, scope: Scope, *, page_size: int = 100, page_token: str = "", filters: Sequence[MetadataFilter] = ()
    ) -> tuple[list[Memory], str]:
        validate_scope(scope)
        validate_filters(filters)
        if page_size == 0:
            page_size = 100
        if not 1 <= page_size <= 1000:
            raise InvalidArgument("page_size must be between 1 and 1000")
        after = decode_cursor(page_token) if page_token else None
        rows = await self._graph.list_memories(scope, filters, page_size + 1, after)
        page = rows[:page_size]
        token = encode_cursor(Cursor(page[-1].created_at, page[-1].id)) if len(rows) > page_size else ""
        return page, token

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
    ) -> Memory:
        """Replace a memory's text (and metadata). The write is a compare-and-set on the version
        this call read (or ``expected_version`` when the caller gives one): a concurrent Update
        makes it fail with Conflict, a concurrent Delete with NotFound, and nothing changes."""
        validate_scope(scope)
        validate_memory_id(memory_id)
        text = text.strip()
        if not text:
            raise InvalidArgument("text must not be empty")
        if len(text) > self._limits.max_text_chars:
            raise ResourceExhausted(f"text has {len(text)} characters; the limit is {self._limits.max_text_chars}")
        if expected_version < 0:
            raise InvalidArgument("expected_version must not be negative (0: the version the server reads)")
        if metadata is not None:
            self._check_metadata(metadata)
        old = await self.get(scope, memory_id)
        _check_expected(old, expected_version)
        facts = await self._extractor.extract([ChatMessage("user", text)], default_speaker=old.scope.speaker)
        triples = tuple(t for f in facts for t in f.triples)
        now = datetime.now(UTC)
        new = replace(
            old,
            text=text,
            triples=triples,
            metadata=dict(metadata) if metadata is not None else old.metadata,
            updated_at=now,
            content_hash=content_hash(text),
            version=old.version + 1,
        )
        vectors = await self._embedder.embed([text])
        await self._graph.replace_memory(
            new, HistoryEntry(memory_id, EventKind.UPDATE, old.text, text, now), expected_version=old.version
        )
        await self._sync_quietly([new], vectors)
        return new

    async def delete(self, scope: Scope, memory_id: str, *, expected_version: int = 0) -> None:
        """Tombstone one memory. Without ``expected_version`` it deletes whatever version is
        current when the store's transaction runs; with it, only that version (else Conflict)."""
        if expected_version < 0:
            raise InvalidArgument("expected_version must not be negative (0: whatever version is current)")
        old = await self.get(scope, memory_id)
        _check_expected(old, expected_version)
        expected = {memory_id: expected_version} if expected_version else None
        done = await self._graph.delete_memories([memory_id], at=datetime.now(UTC), expected_versions=expected)
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
            done = await self._graph.delete_memories(ids[i : i + 1000], at=datetime.now(UTC))
            await self._drop_quietly(done)
            deleted += len(done)
        return deleted

    async def _drop_quietly(self, done: dict[str, int]) -> None:
        try:
            await self._indexer.drop(done)
        except Exception:
            log.exception("vector delete failed for %d memories; left for the reconciler", len(done))


def _check_expected(memory: Memory, expected_version: int) -> None:
    if expected_version and memory.version != expected_version:
        raise Conflict(
            f"memory {memory.id} is at version {memory.version}, not the expected version {expected_version}; "
            "read it again and retry"
        )
