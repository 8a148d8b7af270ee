"""Writing an Add's plan (recalld.core.add_plan): the rewrites first, each a compare-and-set on the
version the plan was made on, then everything else in one graph-store transaction that re-checks
the version of every memory it retires (Conflict, writing nothing, when one changed: the caller
decides again), then the vector index.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

import numpy as np

from recalld.core.add_plan import AddPlan, Rewrite, actor, content_hash
from recalld.kernel.domain import ChatMessage, EventKind, HistoryEntry, Memory, MemoryEvent
from recalld.kernel.ports import Embedder, Extractor, MemoryReads, MemoryWrites, Vectors

log = logging.getLogger(__name__)


class IndexSink(Protocol):
    """Where an Add's memories go to be indexed: the Indexer (right away), or a bulk import's
    pending batch (recalld.core.bulk.PendingIndex, written once per batch)."""

    async def sync(self, memories: Sequence[Memory], vectors: Vectors | None = None) -> None: ...


class WrittenStore(MemoryWrites, MemoryReads, Protocol):
    """The graph store as the writer uses it."""


class AddWriter:
    def __init__(self, *, graph: WrittenStore, embedder: Embedder, extractor: Extractor, sink: IndexSink) -> None:
        self._graph = graph
        self._embedder = embedder
        self._extractor = extractor
        self._sink = sink

    async def write(self, plan: AddPlan, vectors: Vectors, aliases: dict[str, str]) -> list[MemoryEvent]:
        """Apply ``plan`` (``vectors``: the rows of its pending facts); returns the Add's events:
        ADD, INVALIDATE, UPDATE, then NOOP."""
        episode = plan.episode
        scope, now, by = episode.scope, episode.created_at, actor(episode.scope)
        events = list(plan.events)
        rewritten = [(r, await self.rewritten(r, now, scope.speaker)) for r in plan.rewrites]
        # Rewrites first (each a compare-and-set): a conflict there leaves nothing written.
        for r, new in rewritten:
            old = r.old
            await self._graph.replace_memory(
                new,
                HistoryEntry(old.id, EventKind.UPDATE, old.text, new.text, now, by, r.rule, episode.id,
                             old.triples, new.triples),
                expected_version=old.version,
            )  # fmt: skip
            events.append(MemoryEvent(new, EventKind.UPDATE, r.rule))
        write = self._graph.add_memories(
            episode, plan.fresh, plan.history, retire=plan.retire, reinforce=plan.reinforce, aliases=aliases
        )
        # Retired and rewritten memories need their vectors again (new validity, new text):
        # embedded while the graph store commits, then indexed with the new ones in one write.
        changed = [*plan.retired, *(new for _, new in rewritten)]
        if changed:
            changed_vectors, _ = await asyncio.gather(self._embedder.embed([m.text for m in changed]), write)
        else:
            await write
            changed_vectors = vectors[:0]
        # durable from here on
        await self.sync_quietly([*plan.fresh, *changed], np.concatenate([vectors[plan.fresh_rows], changed_vectors]))
        if plan.noop_rules:
            confirmed = await self._graph.get_memories(list(plan.noop_rules), scope)
            events += [
                MemoryEvent(confirmed[i], EventKind.NOOP, r) for i, r in plan.noop_rules.items() if i in confirmed
            ]
        return events

    async def rewritten(self, r: Rewrite, now: datetime, speaker: str) -> Memory:
        """``r.old`` with its new text, its relations and attributes extracted again (as said by
        ``speaker``, the speaker of the Add's scope)."""
        old, text = r.old, r.text
        facts_now = await self._extractor.extract([ChatMessage("user", text)], default_speaker=speaker)
        return replace(
            old,
            text=text,
            triples=tuple(t for f in facts_now for t in f.triples),
            attributes=tuple(dict.fromkeys(a for f in facts_now for a in f.attributes)),
            updated_at=now,
            content_hash=content_hash(text),
            version=old.version + 1,
        )

    async def sync_quietly(self, memories: Sequence[Memory], vectors: Vectors | None = None) -> None:
        """Index right away; on failure the write stays pending for the reconciler."""
        try:
            await self._sink.sync(memories, vectors)
        except Exception:
            log.exception("vector index sync failed for %d memories; left for the reconciler", len(memories))
