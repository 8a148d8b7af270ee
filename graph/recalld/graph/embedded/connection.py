"""The embedded store's one SQLite connection and the one thread every statement runs on:
opening (with the schema, schema.py), closing and readiness (Lifecycle), and transactions.

Every concern of the store is a mixin over :class:`EmbeddedStoreBase`: it runs its SQLite work
with ``await self._run(fn, ...)`` on the thread, reads the connection as ``self._conn`` and writes
inside ``with self._tx():`` (BEGIN IMMEDIATE ... COMMIT, one transaction per write method)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path as FsPath
from typing import Any, TypeVar

from recalld.graph.embedded.schema import ensure_schema
from recalld.kernel.errors import Unavailable

T = TypeVar("T")


class EmbeddedStoreBase:
    """What every concern of the store shares: the connection (opened by :meth:`open`), the thread
    that runs the SQLite work, transactions, and the lifecycle of the store."""

    def __init__(self, *, path: FsPath) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-sqlite")
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._run(self._open_sync)

    def _open_sync(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        ensure_schema(db)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def ping(self) -> None:
        # In-process: the store answers while the database is open. No query, so a queue of writes
        # on the store's one thread does not read as an outage.
        if self._db is None:
            raise Unavailable("graph store is not open")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("graph store is not open")
        return self._db

    def _tx(self) -> _Transaction:
        return _Transaction(self._conn)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
