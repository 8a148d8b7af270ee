"""Data written by recalld 0.1 keeps working after the move to one time encoding."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pymilvus import DataType, MilvusClient

from recalld.graph.embedded import EmbeddedGraphStore
from recalld.kernel.domain import CURRENT, Scope, TimeRange
from recalld.kernel.ports import VectorRecord
from recalld.vector.milvus import MilvusVectorStore

WHEN = datetime(2024, 5, 1, 9, 30, 15, 123456, tzinfo=UTC)
ALICE = Scope(user_id="alice")


def _old_database(path: Path, memory_id: str, other_id: str = "") -> None:
    """The 0.1 schema: times as REAL seconds, no user_version. ``other_id``: a second memory, of an
    Add whose messages had two speakers."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE episodes(id TEXT PRIMARY KEY, user_id TEXT NOT NULL, agent_id TEXT NOT NULL, run_id TEXT NOT NULL,
          messages TEXT NOT NULL, metadata TEXT NOT NULL, reference_time REAL NOT NULL, created_at REAL NOT NULL);
        CREATE TABLE memories(id TEXT PRIMARY KEY, user_id TEXT NOT NULL, agent_id TEXT NOT NULL, run_id TEXT NOT NULL,
          text TEXT NOT NULL, hash TEXT NOT NULL, metadata TEXT NOT NULL, triples TEXT NOT NULL,
          episode_id TEXT NOT NULL, reference_time REAL NOT NULL, created_at REAL NOT NULL,
          updated_at REAL NOT NULL, state TEXT NOT NULL, version INTEGER NOT NULL, indexed INTEGER NOT NULL);
        CREATE TABLE entities(namespace TEXT NOT NULL, norm TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
          PRIMARY KEY(namespace, norm));
        CREATE TABLE relations(id INTEGER PRIMARY KEY, memory_id TEXT NOT NULL, namespace TEXT NOT NULL,
          user_id TEXT NOT NULL, agent_id TEXT NOT NULL, run_id TEXT NOT NULL,
          subject TEXT NOT NULL, predicate TEXT NOT NULL, object TEXT NOT NULL, created_at REAL NOT NULL);
        CREATE TABLE history(id INTEGER PRIMARY KEY, memory_id TEXT NOT NULL, event TEXT NOT NULL,
          old_text TEXT NOT NULL, new_text TEXT NOT NULL, at REAL NOT NULL);
        """
    )
    ts = WHEN.timestamp()
    db.execute(
        "INSERT INTO memories VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (memory_id, "alice", "", "", "Luna is a Siamese.", "h", "{}", json.dumps([]), "e", ts, ts, ts, "active", 1, 1),
    )
    db.execute("INSERT INTO history (memory_id, event, old_text, new_text, at) VALUES (?,?,?,?,?)",
               (memory_id, "add", "", "Luna is a Siamese.", ts))  # fmt: skip
    episodes = [("e", [["user", "Luna is a Siamese.", ""], ["assistant", "Noted!", ""]])]
    if other_id:
        episodes.append(("e2", [["user", "I run.", "bob"], ["user", "I swim.", "carol"]]))
        db.execute(
            "INSERT INTO memories VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (other_id, "alice", "", "", "I swim.", "h2", "{}", "[]", "e2", ts, ts, ts, "active", 1, 1),
        )
    for episode_id, messages in episodes:
        db.execute("INSERT INTO episodes VALUES (?,?,?,?,?,?,?,?)",
                   (episode_id, "alice", "", "", json.dumps(messages), "{}", ts, ts))  # fmt: skip
    db.commit()
    db.close()


async def test_a_0_1_sqlite_store_is_migrated_to_microseconds(tmp_path: Path) -> None:
    path, mid, other = tmp_path / "graph.db", str(uuid.uuid4()), str(uuid.uuid4())
    _old_database(path, mid, other)
    for _ in range(2):  # the migration runs once; reopening changes nothing
        store = EmbeddedGraphStore(path=path)
        await store.open()
        try:
            got = (await store.get_memories([mid], ALICE))[mid]
            assert (got.created_at, got.reference_time) == (WHEN, WHEN)
            history = await store.history(mid, ALICE)
            assert history is not None and history[0].at == WHEN
            window = TimeRange(WHEN - timedelta(microseconds=1), WHEN + timedelta(microseconds=1))
            assert set(await store.get_memories([mid], ALICE, time_range=window)) == {mid}
            # schema 2: valid since its reference time, current, confirmed once, history defaults
            assert (got.valid_from, got.valid_to, got.confirmations, got.confirmed_at) == (WHEN, None, 1, WHEN)
            assert set(await store.get_memories([mid], ALICE, validity=CURRENT)) == {mid}
            assert (history[0].actor, history[0].episode_id, history[0].old_triples) == ("system", "e", ())
            # schema 5: the full-text index was built from the rows already there
            assert [m for m, _ in await store.lexical_search(ALICE, ["siamese"], 5)] == [mid]
            # schema 6: the speaker, from the episode when one speaker said its facts (the user's
            # unnamed message; the assistant's does not count), else unknown
            assert got.speaker == "alice"
            assert (await store.get_memories([other], ALICE))[other].speaker == ""
        finally:
            await store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 6
    # schema 4: the control plane and erasure records, empty
    assert db.execute("SELECT count(*) FROM api_keys").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM erasures").fetchone()[0] == 0
    assert db.execute("SELECT created_at FROM memories").fetchone()[0] == int(WHEN.timestamp() * 1_000_000)


async def test_a_0_1_milvus_collection_with_millisecond_times_keeps_working(tmp_path: Path) -> None:
    uri, name = str(tmp_path / "milvus.db"), "legacy"
    client = MilvusClient(uri=uri)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, max_length=64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    for field in ("user_id", "agent_id", "run_id"):
        schema.add_field(field, DataType.VARCHAR, max_length=256)
    schema.add_field("ref_ms", DataType.INT64)
    schema.add_field("metadata", DataType.JSON)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="COSINE")
    client.create_collection(name, schema=schema, index_params=index)
    client.close()

    store = MilvusVectorStore(uri=uri, dim=4, collection=name)
    await store.open()
    try:
        await store.upsert([VectorRecord("m1", [1.0, 0.0, 0.0, 0.0], ALICE, WHEN, {})])
        inside = TimeRange(WHEN - timedelta(seconds=1), WHEN + timedelta(seconds=1))
        outside = TimeRange(WHEN + timedelta(seconds=1), None)
        assert [h.id for h in await store.search([1.0, 0.0, 0.0, 0.0], ALICE, 5, time_range=inside)] == ["m1"]
        assert await store.search([1.0, 0.0, 0.0, 0.0], ALICE, 5, time_range=outside) == []
    finally:
        await store.close()
