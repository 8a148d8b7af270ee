"""Vectors an Add needs, found before its facts are known.

Most chat turns are one sentence, and a one-sentence message is its own fact: the Add embeds it
(and looks up its reconciliation neighbours) while spaCy parses, instead of after
(:class:`Ahead`). A bulk import embeds a whole batch in one call before writing its items
(:class:`Ready`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence

import numpy as np

from recalld.kernel.domain import CURRENT, ChatMessage, Scope
from recalld.kernel.ports import Embedder, NeighbourSearch, VectorHit, Vectors

_SENTENCE_BREAK = re.compile(r"[.!?;]\s+\S")


def likely_facts(messages: Sequence[ChatMessage], infer: bool) -> list[str]:
    """The texts the facts of these messages will probably have: every message when stored as
    it is; otherwise the extracted one-sentence messages."""
    if not infer:
        return [m.content.strip() for m in messages]
    return [
        text
        for m in messages
        if (m.name or m.role.lower() == "user") and not _SENTENCE_BREAK.search(text := m.content.strip())
    ]


class Early:
    """What an Add may have found before deciding: :meth:`result` gives the vectors (and the
    neighbours) of exactly ``texts``, or (None, None) and the Add embeds and searches itself."""

    async def result(self, texts: list[str]) -> tuple[Vectors | None, list[list[VectorHit]] | None]:
        return None, None

    def cancel(self) -> None:
        return None


class Ahead(Early):
    """Embedding (and the reconciliation neighbour search) of the texts the facts will probably
    have, started before extraction; handed over when they are exactly the pending facts' texts."""

    def __init__(
        self, embedder: Embedder, vector: NeighbourSearch, scope: Scope, texts: list[str], *, neighbours: int
    ) -> None:
        """``neighbours``: how many to look up per text (0: embed only)."""
        self._texts = list(dict.fromkeys(texts))
        self._task: asyncio.Task[tuple[Vectors, list[list[VectorHit]] | None]] | None = None
        if self._texts:
            self._task = asyncio.ensure_future(self._run(embedder, vector, scope, neighbours))

    async def _run(
        self, embedder: Embedder, vector: NeighbourSearch, scope: Scope, neighbours: int
    ) -> tuple[Vectors, list[list[VectorHit]] | None]:
        vectors = await embedder.embed(self._texts)
        if not neighbours:
            return vectors, None
        return vectors, await vector.search_many(vectors, scope, neighbours, validity=CURRENT, may_lag=True)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def result(self, texts: list[str]) -> tuple[Vectors | None, list[list[VectorHit]] | None]:
        if self._task is None:
            return None, None
        if texts != self._texts:
            self.cancel()
            return None, None
        return await self._task


class Ready(Early):
    """Vectors computed before the Add (the importer embeds a whole batch in one call)."""

    def __init__(self, vectors: Mapping[str, np.ndarray]) -> None:
        self._vectors = vectors

    async def result(self, texts: list[str]) -> tuple[Vectors | None, list[list[VectorHit]] | None]:
        if not texts or any(t not in self._vectors for t in texts):
            return None, None
        return np.stack([self._vectors[t] for t in texts]), None
