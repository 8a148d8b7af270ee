"""recalld.graph.cypher without a server: statements are parameterized, predicates name only known
properties, writes are one statement each, values convert exactly; plus the FalkorDB string codec."""

from __future__ import annotations

import itertools
import json
import random
import re
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from recalld.graph import cypher
from recalld.graph.cypher import CypherGraphStore, Query
from recalld.graph.falkordb import decode_text, encode_text
from recalld.kernel.domain import (
    ChatMessage,
    Episode,
    EventKind,
    FilterOp,
    HistoryEntry,
    Memory,
    MetadataFilter,
    Scope,
    TimeRange,
    Triple,
)
from recalld.kernel.errors import Conflict, NotFound
from recalld.kernel.ports import Cursor

MARK = "ZQX"  # in every caller value below; must never reach statement text
HOSTILE = MARK + "'\"`}) DETACH DELETE n // $x {a:1} \\ \x00\n"
NOW = datetime(2024, 3, 1, 12, 0, 0, 654321, tzinfo=UTC)
SCOPE = Scope(HOSTILE + "u", HOSTILE + "a", HOSTILE + "r")


def hostile_memory() -> Memory:
    return Memory(
        id=HOSTILE + "id",
        text=HOSTILE,
        scope=SCOPE,
        metadata={MARK + "key": HOSTILE, "n": 1, "nested": [HOSTILE]},
        created_at=NOW,
        updated_at=NOW,
        reference_time=NOW,
        episode_id=HOSTILE + "ep",
        triples=(Triple(HOSTILE + "s", HOSTILE + "p", HOSTILE + "o", HOSTILE + "t1", HOSTILE + "t2"),),
        content_hash=HOSTILE + "hash",
    )


def all_queries() -> list[Query]:
    m = hostile_memory()
    h = HistoryEntry(m.id, EventKind.ADD, HOSTILE, HOSTILE, NOW)
    episode = Episode(HOSTILE + "ep", SCOPE, (ChatMessage("user", HOSTILE, HOSTILE),), {HOSTILE: HOSTILE}, NOW, NOW)
    filters = [MetadataFilter(MARK + "k", op, HOSTILE) for op in FilterOp if op is not FilterOp.IN]
    filters += [MetadataFilter(MARK + "n", op, 1.5) for op in FilterOp if op is not FilterOp.IN]
    filters.append(MetadataFilter(MARK + "-in", FilterOp.IN, [HOSTILE, 2, True]))
    tr = TimeRange(NOW, NOW + timedelta(days=1))
    return [
        cypher.add_memories_query(episode, [m], [h]),
        cypher.replace_memory_query(m, h, 2),
        cypher.delete_memories_query([m.id], NOW, {m.id: 2}),
        cypher.mark_indexed_query({m.id: 3}),
        cypher.memory_version_query(m.id),
        cypher.index_targets_query([m.id]),
        cypher.get_memories_query([m.id], SCOPE, filters, tr),
        cypher.get_all_query([m.id]),
        cypher.get_any_query(m.id, SCOPE),
        cypher.list_memories_query(SCOPE, filters, 10, Cursor(NOW, HOSTILE)),
        cypher.find_scope_ids_query(SCOPE),
        cypher.find_by_hash_query(SCOPE, [HOSTILE]),
        cypher.history_query(m.id, SCOPE),
        cypher.find_entities_query(SCOPE, [HOSTILE]),
        cypher.memory_entities_query([m.id]),
        cypher.expand_query(SCOPE, HOSTILE, 3, 10),
        cypher.paths_query(SCOPE, HOSTILE, HOSTILE + "2", 4, 10),
        cypher.incident_edges_query(SCOPE, [HOSTILE], 10),
        cypher.pending_index_query(10),
    ]


@pytest.mark.parametrize("query", all_queries(), ids=lambda q: q.name)
def test_caller_values_travel_only_as_parameters(query: Query) -> None:
    assert MARK not in query.text
    referenced = set(re.findall(r"\$(\w+)", query.text))
    assert referenced == set(query.params), "every parameter is used and every $name is bound"
    # Outside parameters, only constants: no quote characters beyond the fixed literals of this module.
    literals = set(re.findall(r"'([^']*)'", query.text))
    assert literals <= {"active", "deleted", "delete", "", *cypher.GENERIC_TYPES}


def test_fixed_statements_have_no_formatting_leftovers() -> None:
    for name in dir(cypher):
        value = getattr(cypher, name)
        if name.isupper() and isinstance(value, str):
            assert "{_" not in value and "{{" not in value, name


SCOPES = [
    Scope(*(v if on else "" for v, on in zip(("u", "a", "r"), mask, strict=True)))
    for mask in itertools.product([True, False], repeat=3)
    if any(mask)
]


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: "+".join(k for k, _ in s.items()))
@pytest.mark.parametrize("var", ["m", "r"])
def test_scope_predicates_name_only_scope_properties(scope: Scope, var: str) -> None:
    text, params = cypher.scope_predicate(var, scope)
    names = set(re.findall(rf"\b{var}\.(\w+)", text))
    allowed = set(cypher.SCOPE_PROPS) | (set(cypher.SCOPE_KEYS.values()) if var == "m" else set())
    assert names <= allowed
    assert {k for k, _ in scope.items()} <= names
    assert set(re.findall(r"\$(\w+)", text)) == set(params)
    assert all(v in params.values() for _, v in scope.items())


def test_scope_predicate_rejects_empty_scopes_and_unknown_variables() -> None:
    with pytest.raises(ValueError, match="empty scope"):
        cypher.scope_predicate("m", Scope())
    with pytest.raises(ValueError):
        cypher.scope_predicate("m) DETACH DELETE (n", Scope("u"))


@pytest.mark.parametrize("depth", [0, -1, cypher.MAX_DEPTH + 1, True, 2.0, "2", "2]-() DETACH DELETE n //"])
def test_variable_length_bounds_must_be_small_integers(depth: Any) -> None:
    with pytest.raises(ValueError):
        cypher.expand_query(SCOPE, "a", depth, 10)
    with pytest.raises(ValueError):
        cypher.paths_query(SCOPE, "a", "b", depth, 10)


@pytest.mark.parametrize("key", ["a b", "x`]", "1abc", "", "k" * 65, "m.id"])
def test_metadata_predicate_rejects_keys_outside_the_pattern(key: str) -> None:
    with pytest.raises(ValueError):
        cypher.metadata_predicate([MetadataFilter(key, FilterOp.EQ, "v")])


def test_metadata_predicate_compares_by_type_through_dynamic_properties() -> None:
    text, params = cypher.metadata_predicate(
        [
            MetadataFilter("k", FilterOp.GT, 3),
            MetadataFilter("k", FilterOp.LT, "b"),
            MetadataFilter("f", FilterOp.EQ, True),
        ]
    )
    assert text == (
        " AND (m[$f0_n] > $f0_v OR m[$f0_s] IS NOT NULL)"  # a string is greater than any number
        " AND (m[$f1_s] < $f1_v OR m[$f1_n] IS NOT NULL)"  # a number is less than any string
        " AND m[$f2_n] = $f2_v"  # true is 1
    )
    assert params["f0_n"] == "m_n_k" and params["f1_s"] == "m_s_k" and params["f2_v"] == 1


JSON_VALUES: list[Any] = [
    "plain",
    "",
    "é ' \"",
    3,
    -2.5,
    True,
    False,
    None,
    2**70,
    [1, "x", {"b": 2.5}],
    {"k": "é", "z": None},
    [],
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
def test_flattened_metadata_holds_what_sqlite_json_extract_compares(value: Any) -> None:
    """The embedded store filters on json_extract(metadata, '$.key'); the flattened property must
    hold the same value, under m_s_ for TEXT and m_n_ for INTEGER/REAL."""
    doc = json.dumps({"key": value})
    sql = "SELECT json_extract(?, '$.key'), typeof(json_extract(?, '$.key'))"
    got, kind = sqlite3.connect(":memory:").execute(sql, (doc, doc)).fetchone()
    flat = cypher.flatten_metadata({"key": value})
    if kind == "null":
        assert flat == {}
    elif kind == "text":
        assert flat == {"m_s_key": got}
    else:
        assert flat == {"m_n_key": got}


def test_flattening_skips_keys_no_filter_can_name() -> None:
    assert cypher.flatten_metadata({"a b": 1, "ok": 1, "x`": 2, "_": "y"}) == {"m_n_ok": 1, "m_s__": "y"}


GENERIC = list(cypher.GENERIC_TYPES)


def _sequential(existing: str | None, types: list[str]) -> str:
    """The embedded store: insert, or on conflict refine a generic type, triple by triple."""
    current = existing
    for t in types:
        current = t if current is None or current in GENERIC else current
    assert current is not None
    return current


def test_entity_rows_refine_types_like_upserting_triple_by_triple() -> None:
    rng = random.Random(7)
    for _ in range(300):
        types = [rng.choice([*GENERIC, "person", "animal"]) for _ in range(rng.randint(1, 5))]
        m = replace(hostile_memory(), triples=tuple(Triple("Luna", "p", f"o{i}", t) for i, t in enumerate(types)))
        entities, relations = cypher.graph_rows([m])
        luna = next(e for e in entities if e["norm"] == "luna")
        for existing in (None, "entity", "concept", "person"):
            stored = luna["type"] if existing is None else existing
            # the MERGE: ON CREATE takes the row's type, ON MATCH refines only a generic type
            merged = luna["type"] if existing is None or existing in GENERIC else stored
            assert merged == _sequential(existing, types)
        assert [r["props"]["ord"] for r in relations] == list(range(len(types)))


def test_entity_identity_is_namespace_and_normalized_name() -> None:
    m = replace(
        hostile_memory(), scope=Scope("alice"), triples=(Triple("  Luna ", "p", "LUNA"), Triple("luna", "q", "x"))
    )
    entities, relations = cypher.graph_rows([m])
    assert [(e["norm"], e["name"]) for e in entities] == [("luna", "  Luna "), ("x", "x")]
    assert relations[0]["subject"] == relations[0]["object"] == cypher.entity_key("u:alice", "luna")
    assert cypher.entity_key("u:alice", "luna") != cypher.entity_key("u:bob", "luna")
    assert re.fullmatch(r"[0-9a-f]{64}", cypher.lookup_key("", " ", "\x00" * 10_000))


def test_times_convert_exactly_to_microseconds() -> None:
    rng = random.Random(3)
    for _ in range(1000):
        dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randint(0, 2**52))
        assert cypher.from_micros(cypher.to_micros(dt)) == dt
    naive = datetime(2024, 1, 1, 12, 0, 0, 1)
    assert cypher.to_micros(naive) == round(naive.timestamp() * 1_000_000)


class RecordingRunner:
    def __init__(self, rows: list[list[Any]] | None = None) -> None:
        self.writes: list[Query] = []
        self.reads: list[Query] = []
        self.rows = rows or []

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, query: Query) -> list[list[Any]]:
        self.writes.append(query)
        return self.rows

    async def read(self, query: Query) -> list[list[Any]]:
        self.reads.append(query)
        return self.rows


WRITES: list[tuple[str, Callable[[CypherGraphStore], Any]]] = [
    ("add_memories", lambda s: s.add_memories(Episode("e", SCOPE, (), {}, NOW, NOW), [hostile_memory()] * 3, [])),
    (
        "replace_memory",
        lambda s: s.replace_memory(
            hostile_memory(), HistoryEntry("i", EventKind.UPDATE, "", "", NOW), expected_version=1
        ),
    ),
    ("delete_memories", lambda s: s.delete_memories(["a", "b", "a"], at=NOW)),
    ("mark_indexed", lambda s: s.mark_indexed({"a": 1, "b": 2})),
]


@pytest.mark.parametrize(("name", "call"), WRITES, ids=[w[0] for w in WRITES])
async def test_every_write_is_one_statement(name: str, call: Callable[[CypherGraphStore], Any]) -> None:
    runner = RecordingRunner(rows=[["a", 2]])  # a write that applied (compare-and-set held)
    await call(CypherGraphStore(runner=runner))
    assert [q.name for q in runner.writes] == [name]
    assert runner.reads == []


def test_delete_sends_each_id_once_with_its_expected_version() -> None:
    q = cypher.delete_memories_query(["a", "b", "a"], NOW, {"b": 4})
    assert q.params["targets"] == [{"id": "a", "version": None}, {"id": "b", "version": 4}]


class UnappliedWrites(RecordingRunner):
    async def write(self, query: Query) -> list[list[Any]]:
        self.writes.append(query)
        return []  # the compare-and-set matched nothing


@pytest.mark.parametrize(
    ("stored", "error"), [([], NotFound), ([["deleted", 3]], NotFound), ([["active", 7]], Conflict)]
)
async def test_a_replace_that_did_not_apply_reads_why(stored: list[list[Any]], error: type[Exception]) -> None:
    runner = UnappliedWrites(rows=stored)
    store = CypherGraphStore(runner=runner)
    with pytest.raises(error):
        await store.replace_memory(
            hostile_memory(), HistoryEntry("i", EventKind.UPDATE, "", "", NOW), expected_version=1
        )
    assert [q.name for q in runner.reads] == ["memory_version"]


def test_neo4j_schema_is_idempotent() -> None:
    ddl = cypher.neo4j_schema()
    assert ddl and all(re.match(r"CREATE (CONSTRAINT|INDEX) recalld_\w+ IF NOT EXISTS FOR ", s) for s in ddl)
    assert len({s.split()[2] for s in ddl}) == len(ddl)  # unique names


def test_falkordb_indexes_cover_every_unique_property_first() -> None:
    order = [(label, prop) for label, prop, _ in cypher.falkordb_indexes()]
    uniques = [(label, p) for label, props in cypher.UNIQUE_KEYS for p in props]
    assert order[: len(uniques)] == uniques


CODEC_ALPHABET = ["\x00", "\x01", "\x02", "a", "b", " ", "é", "😀", "\n"]


def test_falkordb_text_codec_is_reversible_order_preserving_and_nul_free() -> None:
    rng = random.Random(11)
    words = [""] + ["".join(rng.choice(CODEC_ALPHABET) for _ in range(rng.randint(1, 6))) for _ in range(2000)]
    for w in words:
        encoded = encode_text(w)
        assert decode_text(encoded) == w and "\x00" not in encoded
    assert sorted(words) == sorted(words, key=encode_text)
    assert encode_text("plain text") == "plain text"


def test_composition_root_builds_each_graph_backend(tmp_path: Path) -> None:
    from recalld.graph.embedded import EmbeddedGraphStore
    from recalld.graph.falkordb import FalkorDBGraphStore
    from recalld.graph.neo4j import Neo4jGraphStore
    from recalld.server.app import _graph_store
    from recalld.server.config import Settings, load_settings

    assert isinstance(_graph_store(Settings(data_dir=tmp_path)), EmbeddedGraphStore)
    assert isinstance(_graph_store(Settings(graph_backend="falkordb")), FalkorDBGraphStore)
    with pytest.raises(ValueError, match="RECALLD_GRAPH_URI"):
        _graph_store(Settings(graph_backend="neo4j"))
    env = {
        "RECALLD_GRAPH_BACKEND": "neo4j",
        "RECALLD_GRAPH_URI": "neo4j+s://example.invalid:7687",
        "RECALLD_GRAPH_USER": "neo4j",
        "RECALLD_GRAPH_PASSWORD": "secret",
        "RECALLD_GRAPH_DATABASE": "memories",
    }
    settings = load_settings(env)
    assert isinstance(_graph_store(settings), Neo4jGraphStore)  # connects only at open()
    assert "secret" not in repr(settings)
    with pytest.raises(ValueError, match="unknown graph backend"):
        _graph_store(Settings(graph_backend="cassandra"))


class FakeNeo4j:
    """Just enough of the neo4j async driver to check recalld.graph.neo4j's glue without a server."""

    def __init__(self, uri: str, auth: Any = None) -> None:
        self.uri, self.auth = uri, auth
        self.log: list[tuple[Any, ...]] = []
        self.fail: Exception | None = None

    async def verify_connectivity(self) -> None:
        self.log.append(("verify",))

    async def execute_query(self, statement: str, database_: str | None = None) -> None:
        self.log.append(("ddl", statement, database_))

    def session(self, database: str | None = None) -> FakeNeo4j:
        self.log.append(("session", database))
        return self

    async def __aenter__(self) -> FakeNeo4j:
        return self

    async def __aexit__(self, *exc: object) -> None: ...

    async def execute_write(self, work: Callable[..., Any], *args: Any) -> Any:
        return await self._tx("write", work, *args)

    async def execute_read(self, work: Callable[..., Any], *args: Any) -> Any:
        return await self._tx("read", work, *args)

    async def _tx(self, kind: str, work: Callable[..., Any], *args: Any) -> Any:
        if self.fail is not None:
            raise self.fail
        self.log.append((kind,))
        return await work(self, *args)

    async def run(self, text: str, params: dict[str, Any]) -> FakeNeo4j:
        self.log.append(("run", text, params))
        return self

    async def values(self) -> list[list[Any]]:
        return []

    async def close(self) -> None:
        self.log.append(("close",))


async def test_neo4j_backend_runs_each_query_in_one_managed_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    import neo4j
    from neo4j.exceptions import ServiceUnavailable

    from recalld.graph.neo4j import Neo4jGraphStore
    from recalld.kernel.errors import Unavailable

    drivers: list[FakeNeo4j] = []

    def fake_driver(uri: str, auth: Any = None) -> FakeNeo4j:
        drivers.append(FakeNeo4j(uri, auth))
        return drivers[-1]

    monkeypatch.setattr(neo4j.AsyncGraphDatabase, "driver", fake_driver)
    store = Neo4jGraphStore(uri="neo4j+s://db.example:7687", user="neo4j", password="pw", database="mem")
    await store.open()
    (driver,) = drivers
    assert driver.uri == "neo4j+s://db.example:7687" and driver.auth == ("neo4j", "pw")
    assert [e[1] for e in driver.log if e[0] == "ddl"] == cypher.neo4j_schema()
    assert {e[2] for e in driver.log if e[0] == "ddl"} == {"mem"}
    driver.log.clear()
    await store.add_memories(Episode("e", SCOPE, (), {}, NOW, NOW), [hostile_memory()], [])
    assert [e[0] for e in driver.log] == ["session", "write", "run"]
    assert driver.log[0] == ("session", "mem") and driver.log[2][1] == cypher.ADD_MEMORIES
    driver.log.clear()
    assert await store.get_any("x", SCOPE) is None
    assert [e[0] for e in driver.log] == ["session", "read", "run"]
    driver.fail = ServiceUnavailable("gone")
    with pytest.raises(Unavailable):
        await store.count_memories()
    await store.close()
    assert driver.log[-1] == ("close",)
    anonymous = Neo4jGraphStore(uri="bolt://localhost:7687")
    await anonymous.open()
    assert drivers[-1].auth is None
    await anonymous.close()
