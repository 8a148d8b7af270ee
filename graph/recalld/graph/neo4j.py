"""Neo4j 5 backend: the Cypher GraphStore over the official async driver.

Every query runs in a managed transaction (``execute_write`` / ``execute_read``), which the
driver retries on transient errors and lost leaders; each GraphStore write is one statement, so
one transaction. Works with Neo4j 5 Community, Enterprise and Aura: no APOC, no GDS. The schema
(uniqueness constraints and indexes) is created with ``IF NOT EXISTS`` at open.

``uri`` picks transport and TLS: ``neo4j://`` (routing) or ``bolt://`` (direct), ``+s`` for TLS
with a verified certificate (``neo4j+s://``, what Aura uses), ``+ssc`` for self-signed.
"""

from __future__ import annotations

from typing import Any

from recalld.graph.cypher import CypherGraphStore, Query, Row, neo4j_schema
from recalld.kernel.errors import Unavailable


class Neo4jRunner:
    def __init__(self, *, uri: str, user: str = "", password: str = "", database: str | None = None) -> None:
        self._uri = uri
        self._auth = (user, password) if user else None
        self._database = database or None  # None: the user's home database
        self._driver: Any = None

    async def open(self) -> None:
        from neo4j import AsyncGraphDatabase

        self._driver = AsyncGraphDatabase.driver(self._uri, auth=self._auth)
        try:
            await self._driver.verify_connectivity()
            for statement in neo4j_schema():  # schema commands cannot share a transaction with writes
                await self._driver.execute_query(statement, database_=self._database)
        except Exception as exc:
            await self._driver.close()
            self._driver = None
            raise _translate(exc) from exc

    async def close(self) -> None:
        if self._driver is not None:
            await self._driver.close()
            self._driver = None

    async def write(self, query: Query) -> list[Row]:
        return await self._call(query, write=True)

    async def read(self, query: Query) -> list[Row]:
        return await self._call(query, write=False)

    async def _call(self, query: Query, *, write: bool) -> list[Row]:
        if self._driver is None:
            raise RuntimeError("graph store is not open")
        try:
            async with self._driver.session(database=self._database) as session:
                work = session.execute_write if write else session.execute_read
                rows: list[Row] = await work(_run, query)
                return rows
        except Exception as exc:
            raise _translate(exc) from exc


async def _run(tx: Any, query: Query) -> list[Row]:
    """The rows as dicts keyed by column alias. ``data()`` would turn nodes into dicts too; the
    statements return only scalars and lists of them."""
    result = await tx.run(query.text, query.params)
    rows: list[Row] = await result.data()
    return rows


def _translate(exc: Exception) -> Exception:
    from neo4j.exceptions import ServiceUnavailable, SessionExpired

    if isinstance(exc, ServiceUnavailable | SessionExpired | OSError):
        return Unavailable(f"Neo4j unreachable: {exc}")
    return exc


class Neo4jGraphStore(CypherGraphStore):
    """The GraphStore on a Neo4j 5 server or Aura."""

    def __init__(self, *, uri: str, user: str = "", password: str = "", database: str | None = None) -> None:
        super().__init__(runner=Neo4jRunner(uri=uri, user=user, password=password, database=database))
