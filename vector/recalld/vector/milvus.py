"""VectorStore on Milvus through pymilvus MilvusClient.

One client for both modes: a local path ending in ``.db`` opens Milvus Lite
(embedded default); an ``http://host:port`` URI talks to a Milvus server.
Scope (user_id, agent_id, run_id), reference time and metadata are scalar
fields filtered inside Milvus. Expressions are assembled only from
:func:`recalld.vector.expressions.milvus_literal`-escaped values.
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import grpc
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import ConnectError, ConnectionNotExistException, MilvusException, MilvusUnavailableException

from recalld.kernel.domain import CURRENT, MetadataFilter, Scope, TimeRange, Validity
from recalld.kernel.errors import Unavailable
from recalld.kernel.ports import VectorHit, VectorRecord, Vectors
from recalld.kernel.times import to_micros
from recalld.vector.expressions import milvus_literal, milvus_metadata_filter
from recalld.vector.lite_process import LiteProcess
from recalld.vector.lite_search import install as install_fast_search

T = TypeVar("T")
log = logging.getLogger(__name__)
_MAX_ID = 64
_MAX_SCOPE = 256
_BUCKET = re.compile(r"u[0-9]{3}")
_ERASE_BATCH = 1000


_SEARCH_THREADS = 8  # searches of a Milvus server in flight at once from one recalld process


def _is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "tcp://", "unix:"))


def _bucket_name(b: int) -> str:
    return f"u{b:03d}"


def scope_expression(scope: Scope) -> str:
    """``user_id == "alice" and agent_id == "tutor"`` for the set fields (and ``== ""`` for the
    unset ones of an exact scope)."""
    return " and ".join(f"{k} == {milvus_literal(v)}" for k, v in scope.filter_items())


# Reference time as integer microseconds (recalld.kernel.times), like every other store.
# Collections made by recalld 0.1 have ``ref_ms`` (milliseconds); they keep working, and
# ``recalld reindex --full`` into a new collection moves them to ``ref_us``.
TIME_FIELD = "ref_us"
_LEGACY_TIME_FIELD = "ref_ms"
_TIME_DIVISOR = {TIME_FIELD: 1, _LEGACY_TIME_FIELD: 1000}


def time_value(dt: datetime, time_field: str = TIME_FIELD) -> int:
    return to_micros(dt) // _TIME_DIVISOR[time_field]


# World validity in integer microseconds; a fact that still holds has valid_to = OPEN. Collections
# made before recalld 0.3 lack both fields: validity is then checked by the system of record only
# (see MilvusVectorStore.open).
VALID_FROM_FIELD = "valid_from_us"
VALID_TO_FIELD = "valid_to_us"
OPEN = 2**63 - 1


def validity_expression(validity: Validity) -> str:
    if validity.include_retired:
        return ""
    if validity.as_of is not None:
        t = to_micros(validity.as_of)
        return f"{VALID_FROM_FIELD} <= {t} and {VALID_TO_FIELD} > {t}"
    return f"{VALID_TO_FIELD} == {OPEN}"


def search_expression(
    scope: Scope,
    filters: Sequence[MetadataFilter] = (),
    time_range: TimeRange | None = None,
    time_field: str = TIME_FIELD,
    validity: Validity | None = None,
) -> str:
    clauses = [scope_expression(scope), *milvus_metadata_filter(filters)]
    if time_range is not None and time_range.start is not None:
        clauses.append(f"{time_field} >= {time_value(time_range.start, time_field)}")
    if time_range is not None and time_range.end is not None:
        clauses.append(f"{time_field} < {time_value(time_range.end, time_field)}")
    if validity is not None:
        clauses.append(validity_expression(validity))
    return " and ".join(c for c in clauses if c)


class MilvusVectorStore:
    def __init__(
        self,
        *,
        uri: str,
        dim: int,
        collection: str = "recalld_memories",
        token: str = "",
        index_type: str = "FLAT",
        consistency_level: str = "Session",
        flush_rows: int = 0,
        user_buckets: int = 0,
        lite_process: bool = False,
        fast_search: bool = True,
    ) -> None:
        """``flush_rows``: flush after that many written rows (0: never). Milvus Lite
        scans unflushed rows slowly (measured: 2,500 pending rows add ~55 ms to
        every search), so the embedded default flushes every 256 rows.

        ``user_buckets``: spread users over that many explicit partitions
        (crc32(user_id) mod n) and search only the user's partition. Milvus Lite
        scans every row a filter touches (measured at 100k rows: 71 ms for a
        user-filtered search over one partition, 4 ms with 64 buckets). Milvus's
        own partition key is not used: on Milvus 2.3.5 a ``user_id ==`` filter on
        a partition-key field returned no rows with pymilvus 3. The bucket count
        of an existing collection wins over this setting, so data never moves.

        ``lite_process``: with a Milvus Lite path, run Milvus Lite in a child process
        (recalld.vector.lite_process) instead of on a thread of this one, so its searches use
        another core; the data directory is the same."""
        self._uri = uri
        self._token = token
        self._dim = dim
        self._collection = collection
        self._index_type = index_type
        self._consistency = consistency_level
        self._flush_rows = flush_rows
        self._unflushed = 0
        self._buckets = user_buckets
        self._deletes = 0  # deletes issued / seen by a Strong search: see delete()
        self._deletes_settled = 0
        self._client: MilvusClient | None = None
        self._time_field = TIME_FIELD
        self._has_validity = True
        # MilvusClient is synchronous; one thread keeps the writes ordered. Searches of a Milvus
        # server run on threads of their own (its gRPC channel is thread-safe): behind the writes'
        # thread they queued one at a time, 330 ms per search at 32 clients for ~10 ms of work.
        # Milvus Lite keeps one thread for everything, as its single process has always been used.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="milvus")
        self._readers = (
            ThreadPoolExecutor(max_workers=_SEARCH_THREADS, thread_name_prefix="milvus-search")
            if _is_server(uri)
            else self._executor
        )
        self._ping_timeout_s = 3.0
        self._lite: LiteProcess | None = None
        self._fast_search = fast_search
        if lite_process and not _is_server(uri):
            self._lite = LiteProcess(Path(uri), fast_search=fast_search)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` on the store's ordered thread (writes, and everything of Milvus Lite)."""
        return await self._on(self._executor, fn, args, kwargs)

    async def _read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A read of a Milvus server on the search threads, beside the writes; on Milvus Lite, _run."""
        return await self._on(self._readers, fn, args, kwargs)

    async def _on(self, pool: ThreadPoolExecutor, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, lambda: fn(*args, **kwargs))
        except Exception as exc:
            if not _not_loaded(exc):
                raise unreachable(exc) from exc
            # A Milvus server that restarted serves again before it has loaded the collection:
            # load it (on the store's ordered thread: later writes queue behind it) and retry.
            log.warning("Milvus reports collection %r not loaded (a restarted server?): loading it", self._collection)
            try:
                await loop.run_in_executor(
                    self._executor, lambda: self._c.load_collection(self._collection, timeout=_LOAD_TIMEOUT_S)
                )
                return await loop.run_in_executor(pool, lambda: fn(*args, **kwargs))
            except Exception as again:
                raise unreachable(again) from again

    async def ping(self) -> None:
        """A round trip to the server on a thread of its own (not behind queued calls on the
        store's thread); the gRPC channel is thread-safe."""
        client = self._client
        if client is None:
            raise Unavailable("Milvus is not connected")
        try:
            await asyncio.to_thread(client.has_collection, self._collection, timeout=self._ping_timeout_s)
        except Exception as exc:
            raise unreachable(exc) from exc

    @property
    def _c(self) -> MilvusClient:
        if self._client is None:
            raise RuntimeError("vector store is not open")
        return self._client

    async def open(self) -> None:
        await self._run(self._open_sync)

    def _open_sync(self) -> None:
        if self._lite is None and not _is_server(self._uri) and self._fast_search:  # Milvus Lite on a thread
            install_fast_search()
        uri = self._lite.start() if self._lite is not None else self._uri
        try:
            self._client = MilvusClient(uri=uri, token=self._token)
        except BaseException:
            if self._lite is not None:
                self._lite.stop()
            raise
        c = self._client
        if not c.has_collection(self._collection):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.VARCHAR, max_length=_MAX_ID, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self._dim)
            for name in ("user_id", "agent_id", "run_id"):
                schema.add_field(name, DataType.VARCHAR, max_length=_MAX_SCOPE)
            schema.add_field(TIME_FIELD, DataType.INT64)
            schema.add_field(VALID_FROM_FIELD, DataType.INT64)
            schema.add_field(VALID_TO_FIELD, DataType.INT64)
            schema.add_field("metadata", DataType.JSON)
            index = c.prepare_index_params()
            params = {"M": 16, "efConstruction": 200} if self._index_type == "HNSW" else {}
            index.add_index("vector", index_type=self._index_type, metric_type="COSINE", params=params)
            c.create_collection(
                self._collection, schema=schema, index_params=index, consistency_level=self._consistency
            )
            for b in range(self._buckets):
                c.create_partition(self._collection, _bucket_name(b))
        else:
            dim = self._existing_dim(c)
            if dim != self._dim:
                raise RuntimeError(
                    f"collection {self._collection!r} has dim {dim}, the embedder produces {self._dim}: "
                    "use another collection or reindex"
                )
            self._buckets = sum(1 for p in c.list_partitions(self._collection) if _BUCKET.fullmatch(p))
            names = {f["name"] for f in c.describe_collection(self._collection)["fields"]}
            self._time_field = TIME_FIELD if TIME_FIELD in names else _LEGACY_TIME_FIELD
            self._has_validity = VALID_TO_FIELD in names
            if not self._has_validity:
                log.warning(
                    "collection %r predates validity fields: retired facts are filtered out after the "
                    "vector search, so a search may return fewer hits; `recalld reindex --full` into a new "
                    "collection (RECALLD_MILVUS_COLLECTION) moves it to the current schema",
                    self._collection,
                )
        c.load_collection(self._collection)

    def _partition(self, user_id: str) -> str | None:
        if not self._buckets:
            return None
        return _bucket_name(zlib.crc32(user_id.encode()) % self._buckets)

    def _existing_dim(self, c: MilvusClient) -> int:
        for f in c.describe_collection(self._collection)["fields"]:
            if f["name"] == "vector":
                return int(f["params"]["dim"])
        raise RuntimeError(f"collection {self._collection!r} has no vector field")

    async def close(self) -> None:
        if self._readers is not self._executor:  # searches still running end before the client closes
            await asyncio.to_thread(self._readers.shutdown, wait=True)
        if self._client is not None:
            if self._unflushed:
                await self._run(self._client.flush, self._collection)
            await self._run(self._client.close)
            self._client = None
        if self._lite is not None:
            await self._run(self._lite.stop)
        self._executor.shutdown(wait=True)

    async def drop(self) -> None:
        """Drop the collection and everything in it (tests and operators only)."""
        await self._run(self._c.drop_collection, self._collection)
        self._unflushed = 0

    async def upsert(self, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        rows = [
            {
                "id": r.id,
                "vector": [float(x) for x in r.vector],
                "user_id": r.scope.user_id,
                "agent_id": r.scope.agent_id,
                "run_id": r.scope.run_id,
                self._time_field: time_value(r.reference_time, self._time_field),
                "metadata": dict(r.metadata),
                **self._validity_fields(r),
            }
            for r in records
        ]
        if not self._buckets:
            await self._run(self._write, self._c.upsert, rows)
            return
        by_bucket: dict[str | None, list[dict[str, Any]]] = {}
        for r, row in zip(records, rows, strict=True):
            by_bucket.setdefault(self._partition(r.scope.user_id), []).append(row)
        for part, chunk in by_bucket.items():
            await self._run(self._write, partial(self._upsert_into, part), chunk)

    def _validity_fields(self, r: VectorRecord) -> dict[str, int]:
        if not self._has_validity:
            return {}
        return {
            VALID_FROM_FIELD: to_micros(r.valid_from or r.reference_time),
            VALID_TO_FIELD: OPEN if r.valid_to is None else to_micros(r.valid_to),
        }

    def _upsert_into(self, partition: str | None, collection: str, rows: list[Any]) -> None:
        self._c.upsert(collection, rows, partition_name=partition or "")

    async def delete(self, ids: Sequence[str]) -> None:
        if ids:
            await self._run(self._write, lambda coll, ids: self._c.delete(coll, ids=ids), list(ids))
            # Milvus 2.3.5 returns no timestamp for a delete, so Session consistency
            # cannot wait for it: the next search runs Strong (measured: a deleted id
            # was still returned by a Session search right after the delete).
            self._deletes += 1

    async def delete_scope(self, scope: Scope) -> int:
        """Query the ids matching the scope (in its user's partition when it names one) and delete
        them by id, batch by batch until none is left; the next search runs Strong."""
        expr = scope_expression(scope)
        partitions = [p] if scope.user_id and (p := self._partition(scope.user_id)) else None
        deleted = 0
        seen: set[str] = set()
        while True:
            rows = await self._run(
                self._c.query,
                self._collection,
                filter=expr,
                output_fields=["id"],
                limit=_ERASE_BATCH,
                partition_names=partitions,
                consistency_level="Strong",
            )
            ids = [r["id"] for r in rows if r["id"] not in seen]
            if not ids:  # none left (or only ones already deleted, still visible: nothing more to do)
                break
            seen.update(ids)
            await self._run(self._c.delete, self._collection, ids=ids)
            self._deletes += 1
            deleted += len(ids)
            if self._flush_rows:
                await self._run(self._c.flush, self._collection)
        return deleted

    def _write(self, op: Callable[[str, Any], object], payload: list[Any]) -> None:
        op(self._collection, payload)
        self._unflushed += len(payload)
        if self._flush_rows and self._unflushed >= self._flush_rows:
            self._c.flush(self._collection)
            self._unflushed = 0

    async def search(
        self,
        vector: Sequence[float],
        scope: Scope,
        limit: int,
        filters: Sequence[MetadataFilter] = (),
        time_range: TimeRange | None = None,
        validity: Validity = CURRENT,
        ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        if ids is not None and not ids:
            return []
        (hits,) = await self._search([vector], scope, limit, filters, time_range, validity, ids=ids)
        return hits

    async def search_many(
        self,
        vectors: Vectors | Sequence[Sequence[float]],
        scope: Scope,
        limit: int,
        validity: Validity = CURRENT,
        *,
        may_lag: bool = False,
    ) -> list[list[VectorHit]]:
        if not len(vectors):
            return []
        # Session consistency makes a search right after this client's write wait for Milvus's
        # time tick (measured on Milvus 2.3.5: Add p50 31 -> 368 ms once every Add searched);
        # Bounded answers at once from what is already visible.
        return await self._search(vectors, scope, limit, (), None, validity, "Bounded" if may_lag else None)

    async def _search(
        self,
        vectors: Vectors | Sequence[Sequence[float]],
        scope: Scope,
        limit: int,
        filters: Sequence[MetadataFilter],
        time_range: TimeRange | None,
        validity: Validity,
        level: str | None = None,
        *,
        ids: Sequence[str] | None = None,
    ) -> list[list[VectorHit]]:
        """One Milvus request for every query vector (nq = len(vectors))."""
        expr = search_expression(scope, filters, time_range, self._time_field, validity if self._has_validity else None)
        if ids is not None:
            expr = f"({expr}) and id in {milvus_literal(list(ids))}" if expr else f"id in {milvus_literal(list(ids))}"
        # Only a set user_id pins one partition; other scopes span users.
        part = self._partition(scope.user_id) if scope.user_id else None
        deletes = self._deletes
        level = (level or self._consistency) if deletes == self._deletes_settled else "Strong"
        res = await self._read(
            self._c.search,
            self._collection,
            [[float(x) for x in v] for v in vectors],
            partition_names=[part] if part else None,
            limit=limit,
            filter=expr,
            output_fields=["id"],
            search_params={"metric_type": "COSINE", "params": {"ef": max(64, limit * 2)}},
            consistency_level=level,
        )
        if level == "Strong":
            self._deletes_settled = max(self._deletes_settled, deletes)
        return [[VectorHit(id=str(h["id"]), score=float(h["distance"])) for h in hits] for hits in res]

    async def all_ids(self) -> set[str]:
        return await self._run(self._all_ids_sync)

    def _all_ids_sync(self) -> set[str]:
        ids: set[str] = set()
        it = self._c.query_iterator(
            self._collection, batch_size=5000, filter='id != ""', output_fields=["id"], consistency_level="Strong"
        )
        try:
            while batch := it.next():
                ids.update(str(r["id"]) for r in batch)
        finally:
            it.close()
        return ids


_UNREACHABLE = (MilvusUnavailableException, ConnectError, ConnectionNotExistException)
_COLLECTION_NOT_LOADED = 101  # Milvus's error code for a search/query on a collection not loaded
_LOAD_TIMEOUT_S = 30.0
_UNREACHABLE_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _not_loaded(exc: Exception) -> bool:
    return isinstance(exc, MilvusException) and (
        getattr(exc, "code", None) == _COLLECTION_NOT_LOADED or "not loaded" in str(exc)
    )


def unreachable(exc: Exception) -> Exception:
    """``Unavailable`` naming Milvus for an error that means the server cannot serve now (a
    down or restarting server, a collection still loading, a timeout); any other error unchanged."""
    if isinstance(exc, Unavailable):
        return exc
    if _not_loaded(exc):
        return Unavailable(f"Milvus is not serving the collection yet (loading after a restart?): {exc}")
    if isinstance(exc, _UNREACHABLE) or (isinstance(exc, grpc.RpcError) and _code(exc) in _UNREACHABLE_CODES):
        return Unavailable(f"Milvus unreachable: {exc}")
    if isinstance(exc, MilvusException) and any(
        marker in str(exc) for marker in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "Fail connecting", "onnection refused")
    ):
        return Unavailable(f"Milvus unreachable: {exc}")
    return exc


def _code(exc: grpc.RpcError) -> grpc.StatusCode | None:
    code = getattr(exc, "code", None)
    return code() if callable(code) else None
