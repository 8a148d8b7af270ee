"""How the store reaches a database: the :class:`Query` a runner executes, the
:class:`CypherRunner` protocol each backend implements, the locking recipes the statements take
their transactions' write locks with, and :class:`CypherStoreBase`, the base of every concern's
mixin (the one runner they share, and the store's lifecycle)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Query:
    """A named statement and its parameters: the only thing a runner executes."""

    name: str
    text: str
    params: dict[str, Any] = field(default_factory=dict)
    packed: bool = False  # one string column of PACK_-joined fields: the runner returns it as it came


Row = dict[str, Any]  # one result row, keyed by column alias


class CypherRunner(Protocol):
    """How a backend executes queries. ``write`` runs one query as one atomic transaction. Both
    return the rows as dicts keyed by the statement's column aliases."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, query: Query) -> list[Row]: ...

    async def read(self, query: Query) -> list[Row]: ...


# Compare-and-set. ``SET m._lock`` takes the node's write lock before anything is read, so the
# state and version checked after it are the committed ones and stay so until this transaction
# ends (Neo4j runs read-committed: without the lock two writers could both see version N; the
# Cypher manual's "lost updates" recipe). FalkorDB runs one write query at a time anyway.
LOCK = "SET m._lock = true SET m._lock = null"

# A Counter, ``(:Counter {key, value})`` (unique key), serializes the writes of one kind: the
# statement takes its write lock before it reads anything (the LOCK recipe), so "count, then
# create" (operations) and "look for the active grant, then create" (grants) cannot interleave in
# Neo4j either.
SERIALIZE = "MERGE (c:Counter {key: $counter}) SET c._lock = true SET c._lock = null"


CHUNK = 1000  # ids per read query


def chunks(items: Sequence[str], size: int = CHUNK) -> list[list[str]]:
    unique = list(dict.fromkeys(items))
    return [unique[i : i + size] for i in range(0, len(unique), size)]


class CypherStoreBase:
    """What every concern's mixin stands on: the runner they all share (set by
    :class:`recalld.graph.cypher.CypherGraphStore`), and the Lifecycle port over it."""

    _runner: CypherRunner

    async def open(self) -> None:
        await self._runner.open()

    async def close(self) -> None:
        await self._runner.close()

    async def ping(self) -> None:
        await self._runner.read(Query("ping", "RETURN 1 AS ok"))
