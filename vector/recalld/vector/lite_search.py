"""Milvus Lite's dense search executor with its per-row Python taken out; the same results.

Milvus Lite 3 is pure Python. Its dense search,
``milvus_lite.search.executor_indexed.execute_search_with_index``, spends most of a filtered
search over one user's bucket outside the vector maths (measured with py-spy, see
bench/results/vector-search-*.md): a Python loop over every row of every in-scope segment to find
each primary key's newest version, a second one to build each segment's visibility mask, a loop
per candidate to collect each source's top k, and, for every winner, ``Segment.row_to_dict``,
which turns every column of the row (the 384-float vector too) into Python objects, although a
search that asks only for the primary key returns none of them.

:func:`execute_search_with_index` here keeps that function's algorithm and numerics (each
source's top k from the same ``VectorIndex.search`` call on the same mask, the same global
(distance, source, row) order, the same hit dicts) and computes the bookkeeping differently:

- visibility: set operations (in C) over the sources' primary keys find the keys that appear in
  more than one source or have a tombstone; only those rows are checked one by one;
- candidates: one ``tolist`` per query and source instead of a loop over k, and in the FLAT
  (brute force) index the k best written into its result arrays at once, not hit by hit;
- winners: when the requested output fields are at most the primary key (recalld asks for
  ``["id"]``), the projected entity is empty whatever the row holds, so the row is not
  materialized; the primary key comes from the source's key list, which is the same column.

A source whose keys are not unique (Milvus Lite writes none: a memtable keeps one row per key,
a flush writes the memtable, compaction deduplicates) goes through the original per-row code.

:func:`install` swaps it in for the Milvus Lite versions it was checked against (``SUPPORTED``);
on another version it leaves Milvus Lite alone and logs why. The setting
``RECALLD_VECTOR_LITE_FAST_SEARCH=false`` leaves the original in place (the Milvus Lite child
gets it as ``RECALLD_LITE_FAST_SEARCH``). tests/unit/test_lite_search.py runs both on
random collections (upserts across segments and the memtable, deletes, filters, partitions,
output fields) and requires the same hits, distances bit for bit.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

SUPPORTED = frozenset({"3.2.2"})
FAST_SEARCH_ENV = "RECALLD_LITE_FAST_SEARCH"  # set by recalld.vector.lite_process for its child

Candidate = tuple[float, int, int]  # (distance, source, row)
Source = tuple[list[Any], np.ndarray, dict[Any, int] | None]  # (pks, seqs, {pk: row}; None: the pks repeat)


def execute_search_with_index(  # the original's steps in its order, so the two read side by side
    query_vectors: np.ndarray,
    segments: Iterable[Any],
    memtable: Any,
    delta_index: Any,
    top_k: int,
    metric_type: str,
    pk_field: str,
    vector_field: str,
    partition_names: list[str] | None = None,
    compiled_filter: Any = None,
    output_fields: list[str] | None = None,
    indexed_filter_plan: Any = None,
    project_record_fn: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    search_params: dict[str, Any] | None = None,
) -> list[list[dict[str, Any]]]:
    """Drop-in for ``milvus_lite.search.executor_indexed.execute_search_with_index`` (3.2.x)."""
    if query_vectors.ndim == 1:
        query_vectors = query_vectors.reshape(1, -1)
    if query_vectors.dtype != np.float32:
        query_vectors = query_vectors.astype(np.float32, copy=False)
    nq = int(query_vectors.shape[0])
    if nq == 0 or top_k <= 0:
        return [[] for _ in range(nq)]

    partition_filter = set(partition_names) if partition_names else None
    in_scope = [s for s in segments if s.num_rows > 0 and (partition_filter is None or s.partition in partition_filter)]
    mt_pks, mt_seqs, mt_vecs, mt_row_refs, mt_table = memtable_snapshot(
        memtable, vector_field, partition_names, include_table=compiled_filter is not None
    )
    if not in_scope and not mt_pks:
        return [[] for _ in range(nq)]

    sources, contested = _sources(in_scope, mt_pks, mt_seqs)
    global_max_seqs = _newest_versions(sources, contested)
    seg_filter_masks, mt_filter_mask = _filter_masks(in_scope, mt_pks, mt_table, compiled_filter, indexed_filter_plan)
    visible = _Visibility.of(global_max_seqs, contested, memtable, delta_index)

    recall = _Recall(query_vectors, top_k, metric_type, search_params, visible, [[] for _ in range(nq)])
    for source_idx, seg in enumerate(in_scope):
        seg_vectors, seg_vector_null_mask = seg.vector_data(vector_field)
        combined_mask = seg_filter_masks.get(id(seg))
        if seg_vector_null_mask is not None:
            combined_mask = seg_vector_null_mask if combined_mask is None else combined_mask & seg_vector_null_mask
        index = seg.indexes.get(vector_field)
        # a sealed segment's vectors never change: its unit vectors are kept with its own array cache
        recall.source(source_idx, sources[source_idx], seg_vectors, combined_mask, index, seg._vector_data_by_field)
    if mt_pks:
        recall.source(len(sources) - 1, sources[-1], mt_vecs, mt_filter_mask, None, _memtable_cache(memtable).arrays)

    return _merge(
        recall.candidates,
        top_k,
        sources,
        _materializer(in_scope, memtable, mt_row_refs),
        _projection(pk_field, vector_field, output_fields, project_record_fn),
        pk_field=pk_field,
        keys_only=_keys_only(pk_field, output_fields),
    )


# -- sources: (pks, seqs, {pk: row} or None when the pks are not unique) ------------------------------


def _sources(in_scope: list[Any], mt_pks: list[Any], mt_seqs: np.ndarray) -> tuple[list[Source], set[Any]]:
    """The sources (the in-scope segments, then the memtable), and the keys found in more than one
    of them: only those (or any key of a source with repeated keys, when every source then goes the
    original's way) can have an older version to hide."""
    sources: list[Source] = []
    for seg in in_scope:
        pks = seg.pks  # read only, as the original's copy of it
        rows = seg.pk_to_row if len(seg.pk_to_row) == len(pks) else None
        sources.append((pks, seg.seqs, rows))
    if mt_pks:
        mt_rows = {pk: i for i, pk in enumerate(mt_pks)}
        sources.append((mt_pks, mt_seqs, mt_rows if len(mt_rows) == len(mt_pks) else None))

    contested: set[Any] = set()
    if all(rows is not None for _, _, rows in sources):
        seen: set[Any] = set()
        for _, _, rows in sources:
            keys = rows.keys()  # type: ignore[union-attr]
            contested |= seen & keys
            seen |= keys
    else:  # repeated keys somewhere: every source the original's way, row by row
        sources = [(pks, seqs, None) for pks, seqs, _ in sources]
    return sources, contested


def _newest_versions(sources: list[Source], contested: set[Any]) -> dict[Any, int]:
    """The newest sequence number of each key that may have an older version (every key of a
    source without rows by key)."""
    global_max_seqs: dict[Any, int] = {}
    for pks, seqs, rows in sources:
        if rows is not None:
            pairs: Iterable[tuple[Any, int]] = ((pk, int(seqs[rows[pk]])) for pk in contested & rows.keys())
        else:
            pairs = zip(pks, (int(s) for s in seqs.tolist()), strict=False)
        for pk, seq in pairs:
            existing = global_max_seqs.get(pk)
            if existing is None or seq > existing:
                global_max_seqs[pk] = seq
    return global_max_seqs


def _filter_masks(
    in_scope: list[Any], mt_pks: list[Any], mt_table: Any, compiled_filter: Any, indexed_filter_plan: Any
) -> tuple[dict[int, np.ndarray], np.ndarray | None]:
    """The filter's mask of each segment (by ``id``) and of the memtable's rows (None: no filter)."""
    seg_filter_masks: dict[int, np.ndarray] = {}
    mt_filter_mask: np.ndarray | None = None
    if compiled_filter is not None:
        from milvus_lite.search.filter import evaluate_mask
        from milvus_lite.search.indexed_filter import evaluate_segment_filter

        for seg in in_scope:
            seg_filter_masks[id(seg)] = evaluate_segment_filter(seg, compiled_filter, indexed_filter_plan)
        if mt_pks and mt_table is not None:
            mt_filter_mask = evaluate_mask(compiled_filter, mt_table)
    return seg_filter_masks, mt_filter_mask


@dataclass(frozen=True, slots=True, eq=False)
class _Visibility:
    """Which rows a search sees: its key's newest version, not deleted in the delta index or the
    memtable."""

    global_max_seqs: dict[Any, int]
    contested: set[Any]
    delta_index: Any
    mt_deletes: dict[Any, Any]  # {pk: (seq, partition)}
    tombstoned: Any  # the delta index's keys, read only; is_deleted() decides per key

    @classmethod
    def of(cls, global_max_seqs: dict[Any, int], contested: set[Any], memtable: Any, delta_index: Any) -> _Visibility:
        mt_deletes = memtable.delete_index_snapshot()  # {pk: (seq, partition)}
        tombstoned = delta_index._map.keys()  # read only; is_deleted() decides per key
        return cls(global_max_seqs, contested, delta_index, mt_deletes, tombstoned)

    def hidden(self, pk: Any, seq: int) -> bool:
        if self.global_max_seqs.get(pk, seq) != seq:
            return True
        if self.delta_index.is_deleted(pk, seq):
            return True
        entry = self.mt_deletes.get(pk)
        return entry is not None and entry[0] > seq

    def mask(
        self, pks: list[Any], seqs: np.ndarray, rows: dict[Any, int] | None, filter_mask: np.ndarray | None
    ) -> np.ndarray:
        """A source's visible rows, within ``filter_mask``."""
        global_max_seqs, delta_index, mt_deletes = self.global_max_seqs, self.delta_index, self.mt_deletes
        n = len(pks)
        if rows is None:  # the original's loop
            local_mask = np.zeros(n, dtype=bool)
            for i in range(n):
                pk = pks[i]
                seq = int(seqs[i])
                if global_max_seqs.get(pk) != seq:
                    continue
                if delta_index.is_deleted(pk, seq):
                    continue
                mt_entry = mt_deletes.get(pk)
                if mt_entry is not None and mt_entry[0] > seq:
                    continue
                local_mask[i] = True
        else:
            local_mask = np.ones(n, dtype=bool)
            keys = rows.keys()
            suspects = (self.contested & keys) | (self.tombstoned & keys) | (mt_deletes.keys() & keys)
            for pk in suspects:
                i = rows[pk]
                if self.hidden(pk, int(seqs[i])):
                    local_mask[i] = False
        if filter_mask is not None:
            local_mask = local_mask & filter_mask.astype(bool)
        return local_mask


# -- each source's top k -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class _Recall:
    """Each source's top k of each query, collected as candidates (distance, source, row)."""

    vectors: np.ndarray  # the queries, (nq, dim) float32
    top_k: int
    metric_type: str
    search_params: dict[str, Any] | None
    visible: _Visibility
    candidates: list[list[Candidate]]  # per query

    def source(
        self,
        source_idx: int,
        source: Source,
        vectors: np.ndarray,
        filter_mask: np.ndarray | None,
        index: Any,
        cache: dict[Any, Any] | None,
    ) -> None:
        """The source's top k by its own index (a brute-force one when it has none) among its
        visible rows within ``filter_mask``."""
        from milvus_lite.index.brute_force import BruteForceIndex

        pks, seqs, rows = source
        if len(pks) == 0:
            return
        local_mask = self.visible.mask(pks, seqs, rows, filter_mask)
        if not local_mask.any():
            return
        top_k = self.top_k
        if index is None:
            index = BruteForceIndex.build(vectors, self.metric_type)
        valid_mask = None if local_mask.all() else local_mask
        if type(index) is BruteForceIndex:  # FLAT, and every memtable
            local_ids, dists = _brute_force_search(index, self.vectors, top_k, valid_mask, cache)
        else:
            local_ids, dists = index.search(self.vectors, top_k, valid_mask=valid_mask, params=self.search_params)
        for q, candidates in enumerate(self.candidates):
            ids_q = local_ids[q, :top_k].tolist()
            stop = next((j for j, lid in enumerate(ids_q) if lid < 0), len(ids_q))  # -1 pads the end
            dists_q = dists[q, :stop].tolist()
            candidates.extend(zip(dists_q, [source_idx] * stop, ids_q[:stop], strict=True))


# -- global merge and the entities ---------------------------------------------------------------------


def _keys_only(pk_field: str, output_fields: list[str] | None) -> bool:
    """Output fields of at most the primary key project to an empty entity whatever the row holds
    (milvus_lite.engine.projection: a search never puts the primary key in the entity, and no
    dynamic field is asked for), so the winning rows need not be materialized."""
    return output_fields is not None and set(output_fields) <= {pk_field}


def _projection(
    pk_field: str,
    vector_field: str,
    output_fields: list[str] | None,
    project_record_fn: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A winning row's entity, from its record."""
    if project_record_fn is not None:
        return project_record_fn
    if output_fields is None:

        def all_but_key_and_vector(record: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in record.items() if k != pk_field and k != vector_field}

        return all_but_key_and_vector
    keep = set(output_fields)
    keep.discard(pk_field)

    def output_only(record: dict[str, Any]) -> dict[str, Any]:
        return {k: record[k] for k in keep if k in record}

    return output_only


def _materializer(
    in_scope: list[Any], memtable: Any, mt_row_refs: list[tuple[int, int]]
) -> Callable[[int, int], dict[str, Any]]:
    """A winning row as a record: a segment's ``row_to_dict``, the memtable's ``materialize_row``."""
    n_segments = len(in_scope)

    def materialize_record(source_idx: int, local_id: int) -> dict[str, Any]:
        if source_idx < n_segments:
            record: dict[str, Any] = in_scope[source_idx].row_to_dict(local_id)
            return record
        batch_idx, row_idx = mt_row_refs[local_id]
        record = memtable.materialize_row(batch_idx, row_idx)
        return record

    return materialize_record


def _merge(
    per_query_candidates: list[list[Candidate]],
    top_k: int,
    sources: list[Source],
    materialize_record: Callable[[int, int], dict[str, Any]],
    project_entity: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    pk_field: str,
    keys_only: bool,
) -> list[list[dict[str, Any]]]:
    """Each query's top k over all sources, by (distance, source, row) as the original's key, as
    hit dicts."""
    results: list[list[dict[str, Any]]] = []
    for candidates in per_query_candidates:
        candidates.sort()  # by (distance, source, row), as the original's key
        per_query: list[dict[str, Any]] = []
        for dist, source_idx, local_id in candidates[:top_k]:
            if keys_only:
                per_query.append({"id": sources[source_idx][0][local_id], "distance": dist, "entity": {}})
                continue
            record = materialize_record(source_idx, local_id)
            pk = record.get(pk_field) if pk_field in record else sources[source_idx][0][local_id]
            per_query.append({"id": pk, "distance": dist, "entity": project_entity(record)})
        results.append(per_query)
    return results


@dataclass(eq=False)
class _MemtableCache:
    """What earlier searches read of one memtable: each insert batch's vectors (a batch never
    changes once appended), and the snapshots of its current state."""

    vector_field: str | None = None
    vectors: list[np.ndarray] = field(default_factory=list)  # per insert batch, its rows' vectors
    state: tuple[int, int] = (-1, -1)  # (insert batches, live keys) the snapshots below were taken at
    snapshots: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    arrays: dict[Any, Any] = field(default_factory=dict)  # the unit vectors of the current snapshot
    table: Any = None  # the insert batches so far as one contiguous table (a take over 256 chunks is slow)
    table_batches: int = 0  # how many batches ``table`` holds


# A memtable is replaced (not cleared) at flush, so its entry goes with it.
_MEMTABLES: weakref.WeakKeyDictionary[Any, _MemtableCache] = weakref.WeakKeyDictionary()
_MEMTABLES_LOCK = threading.Lock()


def _memtable_cache(memtable: Any) -> _MemtableCache:
    with _MEMTABLES_LOCK:
        cache = _MEMTABLES.get(memtable)
        if cache is None:
            cache = _MEMTABLES[memtable] = _MemtableCache()
        return cache


def memtable_snapshot(
    memtable: Any, vector_field: str | None, partition_names: list[str] | None, *, include_table: bool
) -> tuple[list[Any], np.ndarray, np.ndarray, list[tuple[int, int]], Any]:
    """``MemTable.to_search_snapshot`` (milvus_lite.storage.memtable): the same arrays, in the same
    order, under the memtable's lock, without its per-row Python. The original turns every
    unflushed row's vector into a Python list (384 floats) on every search: ~11 ms per search
    with 256 rows pending, which an embedded store has between flushes. Here each insert batch's
    vectors are read once, as one array, and a snapshot is reused until the memtable changes. Its
    state is (insert batches, live keys): an insert appends a batch (batches are never altered or
    removed), a delete only drops keys, and a flush replaces the memtable, so no two states of one
    memtable share that pair. The arrays returned are read-only (they are shared by searches)."""
    import pyarrow as pa

    cache = _memtable_cache(memtable)
    parts = tuple(partition_names) if partition_names is not None else None
    key = (vector_field, parts, include_table)
    with memtable._lock:
        batches = tuple(memtable._insert_batches)
        state = (len(batches), len(memtable._pk_index))
        if cache.state != state:
            cache.state = state
            cache.snapshots.clear()
            cache.arrays.clear()
        held = cache.snapshots.get(key)
        if held is not None:
            return held
        partition_filter = set(partition_names) if partition_names is not None else None
        pks: list[Any] = []
        seqs: list[int] = []
        row_refs: list[tuple[int, int]] = []
        table_indices: list[int] = []
        offsets = [0]
        for batch in batches:
            offsets.append(offsets[-1] + batch.num_rows)
        for pk, (batch_idx, row_idx, seq) in memtable._pk_index.items():
            if (
                partition_filter is not None
                and batches[batch_idx].column("_partition")[row_idx].as_py() not in partition_filter
            ):
                continue
            pks.append(pk)
            seqs.append(seq)
            row_refs.append((batch_idx, row_idx))
            table_indices.append(offsets[batch_idx] + row_idx)
        vectors = np.zeros((0, 0), dtype=np.float32)
        if vector_field is not None and pks:
            if cache.vector_field != vector_field:
                cache.vector_field, cache.vectors = vector_field, []
            for batch in batches[len(cache.vectors) :]:
                column = batch.column(vector_field)
                if column.null_count:  # a null vector: the original's way (zeros for it), nothing kept
                    return memtable.to_search_snapshot(vector_field, partition_names, include_table)
                flat = np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
                cache.vectors.append(flat.reshape(batch.num_rows, -1))
            vectors = np.concatenate(cache.vectors[: len(batches)])[np.asarray(table_indices, dtype=np.int64)]
        seqs_arr = np.asarray(seqs, dtype=np.uint64)
        table = None
        if include_table:
            if not table_indices or not batches:
                table = memtable._data_schema.empty_table()
            else:
                if cache.table is None:
                    cache.table = pa.Table.from_batches(batches).combine_chunks()
                elif cache.table_batches < len(batches):
                    new = pa.Table.from_batches(batches[cache.table_batches :])
                    cache.table = pa.concat_tables([cache.table, new]).combine_chunks()
                cache.table_batches = len(batches)
                table = cache.table.take(pa.array(table_indices, type=pa.int64()))
                if "_partition" in table.column_names:  # WAL-only, as the original drops it
                    table = table.drop(["_partition"])
        vectors.flags.writeable = False
        seqs_arr.flags.writeable = False
        snapshot = (pks, seqs_arr, vectors, row_refs, table)
        cache.snapshots[key] = snapshot
        return snapshot


_UNIT = "\x00recalld:unit-vectors"  # the key in a segment's per-field array cache (never a field name)


def _unit_rows(index: Any, cache: dict[Any, Any]) -> np.ndarray:
    """The index's vectors divided by their norms, as ``cosine_distance``
    (milvus_lite.search.distance) divides them on every search, computed once per sealed segment.
    Row by row the same float32 values (each row's norm is its own reduction), so the distances
    that follow are bit for bit Milvus Lite's."""
    held = cache.get(_UNIT)
    if held is not None and held[0] is index._vectors:
        unit: np.ndarray = held[1]
        return unit
    candidates = np.asarray(index._vectors, dtype=np.float32)
    norms = np.linalg.norm(candidates, axis=1, keepdims=True)
    unit = candidates / np.where(norms == 0, 1.0, norms)
    cache[_UNIT] = (index._vectors, unit)
    return unit


def _brute_force_search(
    index: Any, queries: np.ndarray, top_k: int, valid_mask: np.ndarray | None, cache: dict[Any, Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``BruteForceIndex.search`` (milvus_lite.index.brute_force) for 2-D float32 queries, with its
    per-hit loop as two array assignments: the same distances, the same selection, the same
    arrays. ``cache``: a sealed segment's array cache, where the cosine metric keeps its unit
    vectors (the memtable's index is built per search and has none)."""
    from milvus_lite.search.distance import METRIC_COSINE, compute_distances

    nq = int(queries.shape[0])
    result_ids = np.full((nq, top_k), -1, dtype=np.int64)
    result_dists = np.full((nq, top_k), np.inf, dtype=np.float32)
    if index.num_vectors == 0 or top_k <= 0:
        return result_ids, result_dists
    if valid_mask is None:
        valid_indices = np.arange(index.num_vectors, dtype=np.int64)
    else:
        if valid_mask.shape[0] != index.num_vectors:
            raise ValueError(f"valid_mask length {valid_mask.shape[0]} != num_vectors {index.num_vectors}")
        valid_indices = np.flatnonzero(valid_mask).astype(np.int64)
    if valid_indices.size == 0:
        return result_ids, result_dists
    effective_k = min(top_k, valid_indices.size)
    if cache is not None and index.metric == METRIC_COSINE and queries.ndim == 2:
        # cosine_distance's own steps, the candidates' division taken from the cache
        asked = np.asarray(queries, dtype=np.float32)
        q_norms = np.linalg.norm(asked, axis=1, keepdims=True)
        q_unit = asked / np.where(q_norms == 0, 1.0, q_norms)
        unit = _unit_rows(index, cache)
        if 2 * valid_indices.size >= index.num_vectors:
            # most rows pass the filter (one user's bucket): score every row and keep the passing
            # ones, rather than copy the passing rows out first (a 10k x 384 gather per search)
            all_dists = np.maximum(1.0 - (q_unit @ unit.T)[:, valid_indices], 0.0)
        else:
            all_dists = np.maximum(1.0 - q_unit @ unit[valid_indices].T, 0.0)
    else:
        all_dists = compute_distances(queries, index._vectors[valid_indices], index.metric)
    if all_dists.ndim == 1:
        all_dists = all_dists.reshape(1, -1)
    for q in range(nq):
        dists = all_dists[q]
        if effective_k < valid_indices.size:
            part = np.argpartition(dists, effective_k - 1)[:effective_k]
            order = part[np.argsort(dists[part])]
        else:
            order = np.argsort(dists)
        top = order[:effective_k]
        result_ids[q, :effective_k] = valid_indices[top]
        result_dists[q, :effective_k] = dists[top]
    return result_ids, result_dists


def install() -> bool:
    """Put :func:`execute_search_with_index` in place of Milvus Lite's own, where it is known to
    be equivalent. True when it is in place."""
    if os.environ.get(FAST_SEARCH_ENV, "true").strip().lower() in ("0", "false", "no", "off"):
        log.info("%s is off: Milvus Lite's own search executor", FAST_SEARCH_ENV)
        return False
    try:
        import milvus_lite
        from milvus_lite.engine import collection
    except ImportError:
        return False
    version = getattr(milvus_lite, "__version__", "")
    if version not in SUPPORTED:
        log.warning(
            "Milvus Lite %s: its own search executor (recalld's faster one is checked against %s only)",
            version,
            ", ".join(sorted(SUPPORTED)),
        )
        return False
    collection.execute_search_with_index = execute_search_with_index
    return True
