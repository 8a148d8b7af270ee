"""Neo4j 5 backend: the Cypher GraphStore over the official async driver.

Every query runs in a managed transaction (``execute_write`` / ``execute_read``), which the
driver retries on transient errors and lost leaders; each GraphStore write is one statement, so
one transaction. Works with Neo4j 5 Community, Enterprise and Aura: no APOC, no GDS. The schema
(uniqueness constraints, indexes and the full-text index) is created with ``IF NOT EXISTS`` at open.

Lexical search: the full-text index ``recalld_memory_text`` on Memory.text (Lucene, English
analyzer), one Lucene query of the terms ORed (:func:`lucene_query`); Lucene sums the BM25 scores
of the terms a memory matches.

``uri`` picks transport and TLS: ``neo4j://`` (routing) or ``bolt://`` (direct), ``+s`` for TLS
with a verified certificate (``neo4j+s://``, what Aura uses), ``+ssc`` for self-signed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from recalld.graph.cypher import CypherGraphStore, FullText, Query, Row
from recalld.graph.cypher.fulltext import NEO4J_FULLTEXT_CALL
from recalld.graph.cypher.schema import neo4j_schema
from recalld.kernel.errors import Unavailable

# Lucene's classic query syntax: every character with a meaning (``&&``/``||`` escaped one by one).
_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def lucene_query(terms: Sequence[str]) -> str:
    """The Lucene query for "any of ``terms``": each term a quoted phrase (so AND/OR/NOT in a term
    are words, and a term of several words is a phrase) with every special character
    backslash-escaped inside it, control characters as spaces; joined with `` OR ``. Terms without
    a letter or digit (the analyzer would make nothing of them) and repeats (compared
    case-insensitively) are left out; "" when none is left."""
    kept: dict[str, str] = {}
    for term in terms:
        if any(c.isalnum() for c in term):
            clean = _CONTROL.sub(" ", term)
            kept.setdefault(clean.lower(), '"' + _LUCENE_SPECIAL.sub(r"\\\1", clean) + '"')
    return " OR ".join(kept.values())


def _lucene_queries(terms: Sequence[str]) -> list[str]:
    query = lucene_query(terms)
    return [query] if query else []


NEO4J_FULLTEXT = FullText(NEO4J_FULLTEXT_CALL, _lucene_queries)


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
        super().__init__(
            runner=Neo4jRunner(uri=uri, user=user, password=password, database=database), fulltext=NEO4J_FULLTEXT
        )
