"""recalld.vector.lite_search against Milvus Lite's own search executor: the same hits, bit for bit.

Every search below goes through Milvus Lite (in this process, through pymilvus, as the embedded
store uses it); at the executor, both functions get the same arguments (the same segments,
memtable, tombstones, filter and projection) and must return equal results: the same ids in the
same order, the same float distances, the same entities.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

milvus_lite = pytest.importorskip("milvus_lite")

from pymilvus import DataType, MilvusClient  # noqa: E402

from recalld.vector import lite_search  # noqa: E402

DIM = 8
OPEN = 2**63 - 1


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, Any]]]:
    from milvus_lite.engine import collection
    from milvus_lite.search import executor_indexed

    original = executor_indexed.execute_search_with_index
    pairs: list[tuple[Any, Any]] = []

    def both(*args: Any, **kwargs: Any) -> Any:
        want = original(*args, **kwargs)
        # copied now: Milvus Lite turns the distances into scores in place afterwards
        pairs.append((copy.deepcopy(want), lite_search.execute_search_with_index(*args, **kwargs)))
        return want

    monkeypatch.setattr(collection, "execute_search_with_index", both)
    yield pairs


def _client(path: Path, index: str) -> MilvusClient:
    c = MilvusClient(uri=str(path / "milvus.db"))
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, max_length=64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("user_id", DataType.VARCHAR, max_length=64)
    schema.add_field("valid_to_us", DataType.INT64)
    schema.add_field("metadata", DataType.JSON)
    params = c.prepare_index_params()
    params.add_index("vector", index_type=index, metric_type="COSINE", params={"M": 16, "efConstruction": 200})
    c.create_collection("c", schema=schema, index_params=params)
    for b in range(3):
        c.create_partition("c", f"u{b:03d}")
    return c


def _row(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "id": f"m{i}",
        "vector": [rng.gauss(0, 1) for _ in range(DIM)],
        "user_id": f"user{i % 4}",
        "valid_to_us": OPEN if rng.random() < 0.8 else rng.randrange(10**15),
        "metadata": {"n": i % 7},
    }


def _partition(row: dict[str, Any]) -> str:
    return f"u{int(row['user_id'][-1]) % 3:03d}"


@pytest.mark.parametrize("index", ["FLAT", "HNSW"])
def test_the_same_hits_as_milvus_lite(tmp_path: Path, compared: list[tuple[Any, Any]], index: str) -> None:
    """Segments written by several flushes, the same ids upserted again (in later segments and in
    the memtable), deletes before and after a flush, and searches with and without a partition, a
    filter, and output fields."""
    rng = random.Random(25)
    c = _client(tmp_path, index)
    c.load_collection("c")
    rows: dict[str, dict[str, Any]] = {}

    def write(batch: list[dict[str, Any]]) -> None:
        for part in {_partition(r) for r in batch}:
            c.upsert("c", [r for r in batch if _partition(r) == part], partition_name=part)
        rows.update((r["id"], r) for r in batch)

    for flush in range(3):  # three segments per partition (four would be compacted), ids in several
        write([_row(rng, i) for i in rng.sample(range(300), 90)])
        if flush:  # deletes of rows in segments: tombstones
            c.delete("c", ids=rng.sample(sorted(rows), 10))
        c.flush("c")
    write([_row(rng, i) for i in rng.sample(range(300), 40)])  # the memtable: new and newer rows
    c.delete("c", ids=rng.sample(sorted(rows), 8))  # tombstones in the memtable

    queries = [[rng.gauss(0, 1) for _ in range(DIM)] for _ in range(12)]
    for k, q in enumerate(queries):
        user = f"user{k % 4}"
        part = [f"u{int(user[-1]) % 3:03d}"]
        for limit in (1, 7, 50):
            for kwargs in (
                {"filter": f'user_id == "{user}" and valid_to_us == {OPEN}', "partition_names": part},
                {"filter": f'user_id == "{user}"', "output_fields": ["id", "user_id", "metadata"]},
                {"partition_names": part, "output_fields": ["id"]},
                {"output_fields": None},
                {"filter": 'metadata["n"] > 2', "output_fields": ["id"]},
            ):
                out = dict(kwargs)
                fields = out.pop("output_fields", ["id"])
                c.search("c", [q, queries[(k + 1) % len(queries)]], limit=limit, output_fields=fields, **out)
    c.close()

    assert len(compared) == len(queries) * 3 * 5
    assert sum(len(hits) for want, _ in compared for hits in want) > 2000
    for want, got in compared:
        assert got == want


def test_the_memtable_snapshot_is_milvus_lites(tmp_path: Path) -> None:
    """The unflushed rows as a search sees them (keys, sequence numbers, vectors, row references,
    the filter table), read batch by batch: the same arrays as MemTable.to_search_snapshot, with
    rows written in several batches, upserted again, and in several partitions."""
    from milvus_lite.engine import collection

    seen: list[Any] = []

    def grab(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("memtable", args[2] if len(args) > 2 else None))
        return lite_search.execute_search_with_index(*args, **kwargs)

    rng = random.Random(7)
    c = _client(tmp_path, "FLAT")
    for i in range(0, 60, 6):  # ten batches; ids 0-29 twice (a newer version in a later batch)
        batch = [_row(rng, j % 30) for j in range(i, i + 6)]
        for part in {_partition(r) for r in batch}:
            c.upsert("c", [r for r in batch if _partition(r) == part], partition_name=part)
    monkey = pytest.MonkeyPatch()
    monkey.setattr(collection, "execute_search_with_index", grab)
    try:
        c.search("c", [[0.5] * DIM], limit=3, output_fields=["id"])
    finally:
        monkey.undo()
    memtable = next(m for m in seen if m is not None)

    def same() -> None:
        for parts in (None, ["u001"], ["u000", "u002"]):
            for table in (False, True, False):  # the third: a snapshot kept from the first
                want = memtable.to_search_snapshot(vector_field="vector", partition_names=parts, include_table=table)
                got = lite_search.memtable_snapshot(memtable, "vector", parts, include_table=table)
                assert got[0] == want[0] and got[3] == want[3]
                assert got[1].dtype == want[1].dtype and (got[1] == want[1]).all()
                assert got[2].dtype == want[2].dtype and got[2].shape == want[2].shape and (got[2] == want[2]).all()
                assert (got[4] is None) == (want[4] is None) and (got[4] is None or got[4].equals(want[4]))

    same()
    c.delete("c", ids=["m3", "m17"])  # a delete drops keys: the kept snapshots are stale
    same()
    for part in ("u000", "u001"):  # an upsert appends a batch
        c.upsert(
            "c", [r for r in (_row(rng, 5), _row(rng, 40), _row(rng, 41)) if _partition(r) == part], partition_name=part
        )
    same()
    assert len(memtable.to_search_snapshot(vector_field="vector", partition_names=None)[0]) > 28  # one row per id


def test_install_swaps_the_executor_on_a_checked_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from milvus_lite.engine import collection
    from milvus_lite.search.executor_indexed import execute_search_with_index as original

    # Milvus Lite's own executor in place, whatever an earlier test of this process installed
    monkeypatch.setattr(collection, "execute_search_with_index", original)
    monkeypatch.setenv("RECALLD_LITE_FAST_SEARCH", "false")
    assert not lite_search.install()
    monkeypatch.delenv("RECALLD_LITE_FAST_SEARCH")
    monkeypatch.setattr(milvus_lite, "__version__", "9.9.9")
    assert not lite_search.install()
    assert collection.execute_search_with_index is not lite_search.execute_search_with_index
    monkeypatch.setattr(milvus_lite, "__version__", sorted(lite_search.SUPPORTED)[0])
    assert lite_search.install()
    assert collection.execute_search_with_index is lite_search.execute_search_with_index
