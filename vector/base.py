"""The VectorStore and Embedder protocols."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from services.domain import Metadata, MetadataFilter, Scope, TimeRange

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class VectorRecord:
    """One memory's embedding with the scalar fields the store filters on."""

    id: str
    vector: Sequence[float]
    scope: Scope
    reference_time: datetime
    metadata: Metadata


@dataclass(frozen=True, slots=True)
class VectorHit:
    id: str
    score: float  # cosine similarity


class VectorStore(Protocol):
    """A derived index of memory embeddings. Every query is scoped inside the
    store (scope, metadata and time filters are part of the store's query)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def upsert(self, records: Sequence[VectorRecord]) -> None: ...

    async def delete(self, ids: Sequence[str]) -> None: ...

    async def search(
        self,
        vector: Sequence[float],
        scope: Scope,
        limit: int,
        filters: Sequence[MetadataFilter] = (),
        time_range: TimeRange | None = None,
    ) -> list[VectorHit]: ...

    async def all_ids(self) -> set[str]: ...


class Embedder(Protocol):
    """Text -> unit-length vectors, batched."""

    @property
    def dim(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> Vectors: ...
