"""Erasure: forget a user, an agent or a run entirely, provably and durably.

1. The request is recorded (an :class:`Erasure` in the system of record) before anything is
   removed, so a crash at any later point is finished at start-up (:meth:`Eraser.resume`).
2. The scope is fenced in this process: new writes into it (Add, Update, asynchronous Adds being
   applied) are refused with UNAVAILABLE until the erasure completes, and the erasure waits for the
   writes already in flight, so nothing lands behind it.
3. The graph store removes everything of the scope in one transaction (memories in every state,
   relations, history, episodes, entities left without relations, operations, grants) and adds the
   counts to the record; then the vector index drops every vector of the scope; then the record is
   completed with the vector count. Each step is idempotent, so resuming repeats them safely.

The record is the receipt: its scope and counts, never content.

The fence is per process. Replicas sharing a store do not see each other's fences: a write into
the scope on another replica while the erasure runs can outlive it (run the erasure again). The
periodic reconciler removes any vector whose memory is gone.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from recalld.core.fence import ScopeFence
from recalld.kernel.domain import Erasure, Scope
from recalld.kernel.errors import InvalidArgument
from recalld.kernel.ports import ErasureLog, VectorStore
from recalld.kernel.validation import validate_scope

log = logging.getLogger(__name__)


class Eraser:
    def __init__(self, *, graph: ErasureLog, vector: VectorStore, fence: ScopeFence) -> None:
        self._graph = graph
        self._vector = vector
        self._fence = fence

    async def erase(self, scope: Scope, *, requested_by: str = "") -> Erasure:
        """Forget ``scope`` (a read filter: {user} with every agent and run, {agent} across users,
        {run}); returns the completed receipt."""
        validate_scope(scope)
        if scope.exact:
            raise InvalidArgument("an erasure takes a plain scope (user, agent and/or run), not an exact one")
        erasure = Erasure(id=str(uuid.uuid4()), scope=scope, requested_at=datetime.now(UTC), requested_by=requested_by)
        await self._graph.begin_erasure(erasure)
        log.info("erasure %s recorded", erasure.id)
        return await self._complete(erasure)

    async def get(self, erasure_id: str) -> Erasure | None:
        return await self._graph.get_erasure(erasure_id)

    async def resume(self) -> int:
        """Finish the erasures a crash interrupted (at start-up); how many."""
        pending = await self._graph.unfinished_erasures()
        for erasure in pending:
            log.info("resuming erasure %s recorded at %s", erasure.id, erasure.requested_at.isoformat())
            await self._complete(erasure)
        return len(pending)

    async def _complete(self, erasure: Erasure) -> Erasure:
        async with self._fence.erasing(erasure.scope):
            await self._graph.erase_scope(erasure.id, erasure.scope)
            vectors = await self._vector.delete_scope(erasure.scope)
            done = await self._graph.finish_erasure(erasure.id, vectors, datetime.now(UTC), pseudonym(erasure.scope))
        log.info("erasure %s completed: %d memories, %d vectors", done.id, done.counts.memories, done.counts.vectors)
        return replace(done, scope=erasure.scope)  # the caller learns what it named; the store keeps digests


def pseudonym(scope: Scope) -> Scope:
    """What the stored receipt keeps of an erased scope: a digest of each id ("sha256:" and the
    first 32 hex digits), so it proves which ids were erased to whoever knows them, and names
    nobody."""

    def digest(value: str) -> str:
        return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:32] if value else ""

    return Scope(digest(scope.user_id), digest(scope.agent_id), digest(scope.run_id))
