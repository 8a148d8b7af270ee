"""recalld.graph.cypher without a server: statements are parameterized, predicates name only known
properties, writes are one statement each, values convert exactly; plus the FalkorDB string codec."""

from __future__ import annotations

import importlib
import itertools
import json
import pkgutil
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
    CURRENT,
    ApiKey,
    ChatMessage,
    Episode,
    Erasure,
    ErasureCounts,
    EventKind,
    FilterOp,
    Grant,
    HistoryEntry,
    Memory,
    MetadataFilter,
    Operation,
    OperationStatus,
    Role,
    Scope,
    TimeRange,
    Triple,
    Validity,
)
from recalld.kernel.errors import Conflict, NotFound
from recalld.kernel.ports import Cursor, Retirement
from recalld.kernel.times import from_micros, to_micros

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
        valid_from=NOW - timedelta(days=3),
        valid_to=NOW,
        retired_at=NOW,
        superseded_by=HOSTILE + "next",
        retired_by_rule=HOSTILE + "rule",
        confirmations=2,
        confirmed_at=NOW,
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
        cypher.memory_writes.add_memories_query(episode, [m], [h]),
        cypher.memory_writes.replace_memory_query(m, h, 2),
        cypher.memory_writes.delete_memories_query([m.id], NOW, {m.id: 2}),
        cypher.ledger.mark_indexed_query({m.id: 3}),
        cypher.memory_writes.memory_version_query(m.id),
        cypher.ledger.index_targets_query([m.id]),
        cypher.memory_reads.get_memories_query([m.id], SCOPE, filters, tr),
        cypher.memory_reads.get_all_query([m.id]),
        cypher.memory_reads.get_any_query(m.id, SCOPE),
        cypher.memory_reads.list_memories_query(SCOPE, filters, 10, Cursor(NOW, HOSTILE)),
        cypher.memory_reads.find_scope_ids_query(SCOPE),
        cypher.memory_reads.find_by_hash_query(SCOPE, [HOSTILE]),
        cypher.memory_reads.history_query(m.id, SCOPE),
        cypher.entities.find_entities_query(SCOPE, [HOSTILE]),
        cypher.entities.memory_entities_query([m.id]),
        cypher.walks.expand_query(SCOPE, HOSTILE, 3, 10),
        cypher.walks.paths_query(SCOPE, HOSTILE, HOSTILE + "2", 4, 10),
        cypher.walks.incident_edges_query(SCOPE, [HOSTILE], 10),
        cypher.ledger.pending_index_query(10),
        cypher.memory_writes.add_memories_query(
            episode,
            [m],
            [h],
            retire=[Retirement(HOSTILE, 3, NOW, HOSTILE, HOSTILE)],
            reinforce=[HOSTILE],
            aliases={HOSTILE: HOSTILE + "x"},
        ),
        cypher.memory_writes.drop_orphan_entities_query([HOSTILE]),
        cypher.entities.find_relations_query(SCOPE, [HOSTILE], [HOSTILE], [HOSTILE]),
        cypher.entities.resolve_aliases_query(SCOPE, [HOSTILE]),
        cypher.entities.entity_aliases_query(HOSTILE, [HOSTILE]),
        cypher.memory_reads.get_memories_query([m.id], SCOPE, filters, tr, Validity(as_of=NOW)),
        cypher.walks.expand_query(SCOPE, HOSTILE, 2, 10, Validity(as_of=NOW)),
        cypher.walks.incident_edges_query(SCOPE, [HOSTILE], 10, CURRENT),
        cypher.memory_reads.list_memories_query(SCOPE, filters, 10, None, include_retired=False),
        # living memory
        cypher.memory_writes.touch_memories_query([m.id], SCOPE, NOW),
        cypher.memory_reads.expired_memories_query(NOW, 10),
        cypher.memory_reads.attributed_memories_query(SCOPE, CURRENT, [HOSTILE]),
        cypher.memory_reads.attributed_memories_query(Scope(HOSTILE, exact=True), Validity(as_of=NOW)),
        cypher.memory_reads.episode_exists_query(HOSTILE),
        cypher.operations.enqueue_operation_query(
            Operation(HOSTILE, SCOPE, HOSTILE, OperationStatus.PENDING, NOW, NOW, error=HOSTILE), 10
        ),
        cypher.operations.get_operation_query(HOSTILE),
        cypher.operations.unfinished_operations_query(10),
        cypher.operations.count_unfinished_operations_query(),
        cypher.operations.claim_operation_query(HOSTILE, HOSTILE, NOW, NOW),
        cypher.operations.finish_operation_query(
            HOSTILE, HOSTILE, OperationStatus.FAILED, result=HOSTILE, error=HOSTILE, at=NOW
        ),
        cypher.grants.put_grant_query(Grant(HOSTILE, HOSTILE, HOSTILE, HOSTILE + "2", NOW, HOSTILE)),
        cypher.grants.revoke_grant_query(HOSTILE, HOSTILE, HOSTILE, NOW, HOSTILE),
        cypher.grants.list_grants_query(HOSTILE, owner_agent=HOSTILE, grantee_agent=HOSTILE, include_revoked=True),
        # erasure and credentials
        cypher.memory_reads.count_user_memories_query(HOSTILE),
        cypher.erasure.begin_erasure_query(Erasure(HOSTILE, SCOPE, NOW, HOSTILE, completed_at=NOW)),
        cypher.erasure.get_erasure_query(HOSTILE),
        cypher.erasure.unfinished_erasures_query(),
        cypher.erasure.finish_erasure_query(HOSTILE, 3, NOW, Scope(HOSTILE, HOSTILE, HOSTILE)),
        *(cypher.erasure.erase_scope_query(HOSTILE, s) for s in ERASE_SCOPES),
        cypher.credentials.put_api_key_query(hostile_key()),
        cypher.credentials.get_api_key_query(HOSTILE),
        cypher.credentials.list_api_keys_query(HOSTILE, include_revoked=True),
        cypher.credentials.list_api_keys_query("", include_revoked=False),
        cypher.credentials.revoke_api_key_query(HOSTILE, NOW, HOSTILE),
        cypher.credentials.register_tenant_query(HOSTILE, NOW),
        cypher.credentials.list_tenants_query(),
    ]


ERASE_SCOPES = [
    SCOPE,
    Scope(HOSTILE),
    Scope(HOSTILE, exact=True),
    Scope(HOSTILE, HOSTILE),
    Scope(agent_id=HOSTILE),
    Scope(run_id=HOSTILE),
    Scope(HOSTILE, "", HOSTILE, exact=True),
]


def hostile_key() -> ApiKey:
    return ApiKey(
        id=HOSTILE + "k",
        tenant=HOSTILE,
        name=HOSTILE,
        role=Role.WRITE,
        secret_hash=HOSTILE,
        created_at=NOW,
        users=frozenset({HOSTILE, "b"}),
        agents=frozenset({HOSTILE}),
        created_by=HOSTILE,
        revoked_at=NOW,
        revoked_by=HOSTILE,
    )


@pytest.mark.parametrize("query", all_queries(), ids=lambda q: q.name)
def test_caller_values_travel_only_as_parameters(query: Query) -> None:
    assert MARK not in query.text
    referenced = set(re.findall(r"\$(\w+)", query.text))
    assert referenced == set(query.params), "every parameter is used and every $name is bound"
    # Outside parameters, only constants: no quote characters beyond the fixed literals of this module.
    literals = set(re.findall(r"'([^']*)'", query.text))
    assert literals <= {"active", "deleted", "delete", "", "[]", *cypher.schema.GENERIC_TYPES}


def fixed_statements() -> dict[str, str]:
    """The package's statement constants (upper-case strings that are Cypher), in every module."""
    modules = [importlib.import_module(f"{cypher.__name__}.{m.name}") for m in pkgutil.iter_modules(cypher.__path__)]
    return {
        name: value
        for module in modules
        for name in dir(module)
        if name.isupper()
        and isinstance(value := getattr(module, name), str)
        and re.search(r"\b(MATCH|CREATE|CALL|UNWIND)\b", value)
    }


def test_fixed_statements_have_no_formatting_leftovers() -> None:
    assert {"ADD_MEMORIES", "LIST_INDEXES", "COUNT_MEMORIES"} <= set(fixed_statements())
    for name, value in fixed_statements().items():
        assert "{_" not in value and "{{" not in value, name


def _top_level_split(text: str) -> list[str]:
    """``text`` split at the commas outside brackets, braces, parentheses and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, c in enumerate(text):
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    assert depth == 0 and not quote, text
    return [p.strip() for p in [*parts, text[start:]]]


def returned_columns(text: str) -> list[tuple[list[str], list[str]]]:
    """For each RETURN of a statement: its column aliases and its ORDER BY keys. Fails on a
    column that is not ``<expr> AS <alias>``."""
    out = []
    for clause in re.split(r"\bRETURN\b", text)[1:]:
        projection, *tail = re.split(r"\b(?=ORDER BY|SKIP|LIMIT)\b", clause, maxsplit=1)
        aliases = []
        for item in _top_level_split(re.sub(r"^\s*DISTINCT\b", "", projection)):
            m = re.fullmatch(r"(?P<expr>\S.*)\s+AS\s+(?P<alias>[A-Za-z_]\w*)", item, re.S)
            assert m, f"un-aliased RETURN column {item!r}"
            aliases.append(m["alias"])
        order = re.match(r"ORDER BY(.*?)(\bSKIP\b|\bLIMIT\b|$)", tail[0] if tail else "", re.S)
        keys = [re.sub(r"\s+(ASC|DESC)$", "", k) for k in _top_level_split(order[1])] if order else []
        out.append((aliases, keys))
    return out


ALL_STATEMENTS = [(q.name, q.text) for q in all_queries()] + sorted(fixed_statements().items())


@pytest.mark.parametrize(("name", "text"), ALL_STATEMENTS, ids=[n for n, _ in ALL_STATEMENTS])
def test_every_returned_column_is_named_and_orders_use_the_names(name: str, text: str) -> None:
    """Rows reach the store as dicts keyed by alias, so every RETURN column needs ``AS <alias>``,
    unique within its RETURN; ORDER BY names those aliases (FalkorDB's dialect, see falkordb.py)."""
    for aliases, order_keys in returned_columns(text):
        assert aliases and len(set(aliases)) == len(aliases), aliases
        assert set(order_keys) <= set(aliases), (order_keys, aliases)


@pytest.mark.parametrize(
    "text",
    [
        "MATCH (m:Memory) RETURN m.id",
        "MATCH (m:Memory) RETURN m.id AS id, m.state",
        "MATCH (m:Memory) RETURN [x IN m.l | x AS y]",
        "MATCH (m:Memory) RETURN count(m) AS n, m.id AS n",
        "MATCH (m:Memory) RETURN m.id AS id ORDER BY m.created_at",
    ],
)
def test_the_column_rule_catches_unnamed_duplicate_and_unprojected_columns(text: str) -> None:
    with pytest.raises(AssertionError):
        test_every_returned_column_is_named_and_orders_use_the_names("bad", text)


SCOPES = [
    Scope(*(v if on else "" for v, on in zip(("u", "a", "r"), mask, strict=True)))
    for mask in itertools.product([True, False], repeat=3)
    if any(mask)
]


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: "+".join(k for k, _ in s.items()))
@pytest.mark.parametrize("var", ["m", "r"])
def test_scope_predicates_name_only_scope_properties(scope: Scope, var: str) -> None:
    text, params = cypher.predicates.scope_predicate(var, scope)
    names = set(re.findall(rf"\b{var}\.(\w+)", text))
    allowed = set(cypher.schema.SCOPE_PROPS) | (set(cypher.schema.SCOPE_KEYS.values()) if var == "m" else set())
    assert names <= allowed
    assert {k for k, _ in scope.items()} <= names
    assert set(re.findall(r"\$(\w+)", text)) == set(params)
    assert all(v in params.values() for _, v in scope.items())


def test_scope_predicate_rejects_empty_scopes_and_unknown_variables() -> None:
    with pytest.raises(ValueError, match="empty scope"):
        cypher.predicates.scope_predicate("m", Scope())
    with pytest.raises(ValueError):
        cypher.predicates.scope_predicate("m) DETACH DELETE (n", Scope("u"))


@pytest.mark.parametrize("depth", [0, -1, cypher.schema.MAX_DEPTH + 1, True, 2.0, "2", "2]-() DETACH DELETE n //"])
def test_variable_length_bounds_must_be_small_integers(depth: Any) -> None:
    with pytest.raises(ValueError):
        cypher.walks.expand_query(SCOPE, "a", depth, 10)
    with pytest.raises(ValueError):
        cypher.walks.paths_query(SCOPE, "a", "b", depth, 10)


@pytest.mark.parametrize("key", ["a b", "x`]", "1abc", "", "k" * 65, "m.id"])
def test_metadata_predicate_rejects_keys_outside_the_pattern(key: str) -> None:
    with pytest.raises(ValueError):
        cypher.predicates.metadata_predicate([MetadataFilter(key, FilterOp.EQ, "v")])


def test_metadata_predicate_compares_by_type_through_dynamic_properties() -> None:
    text, params = cypher.predicates.metadata_predicate(
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
    flat = cypher.values.flatten_metadata({"key": value})
    if kind == "null":
        assert flat == {}
    elif kind == "text":
        assert flat == {"m_s_key": got}
    else:
        assert flat == {"m_n_key": got}


def test_flattening_skips_keys_no_filter_can_name() -> None:
    assert cypher.values.flatten_metadata({"a b": 1, "ok": 1, "x`": 2, "_": "y"}) == {"m_n_ok": 1, "m_s__": "y"}


GENERIC = list(cypher.schema.GENERIC_TYPES)


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
        entities, relations = cypher.memory_writes.graph_rows([m])
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
    entities, relations = cypher.memory_writes.graph_rows([m])
    assert [(e["norm"], e["name"]) for e in entities] == [("luna", "  Luna "), ("x", "x")]
    assert relations[0]["subject"] == relations[0]["object"] == cypher.values.entity_key("u:alice", "luna")
    assert cypher.values.entity_key("u:alice", "luna") != cypher.values.entity_key("u:bob", "luna")
    assert re.fullmatch(r"[0-9a-f]{64}", cypher.values.lookup_key("", " ", "\x00" * 10_000))


def test_times_convert_exactly_to_microseconds() -> None:
    rng = random.Random(3)
    for _ in range(1000):
        dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randint(0, 2**52))
        assert from_micros(to_micros(dt)) == dt
    naive = datetime(2024, 1, 1, 12, 0, 0, 1)
    assert to_micros(naive) == round(naive.timestamp() * 1_000_000)


class RecordingRunner:
    def __init__(self, rows: list[dict[str, Any]] | None = None) -> None:
        self.writes: list[Query] = []
        self.reads: list[Query] = []
        self.rows = rows or []

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, query: Query) -> list[dict[str, Any]]:
        self.writes.append(query)
        return self.rows

    async def read(self, query: Query) -> list[dict[str, Any]]:
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
    """The memory write is one statement; the only follow-up allowed is the idempotent removal of
    entities left without relations (a crash before it leaves orphan entities, never half a
    memory)."""
    runner = RecordingRunner(rows=[{"memory_id": "a", "id": "a", "version": 2, "ends": ["k"]}])  # CAS held
    await call(CypherGraphStore(runner=runner))
    names = [q.name for q in runner.writes]
    assert names[0] == name
    assert names[1:] in ([], ["drop_orphan_entities"])
    assert runner.reads == []


def test_delete_sends_each_id_once_with_its_expected_version() -> None:
    q = cypher.memory_writes.delete_memories_query(["a", "b", "a"], NOW, {"b": 4})
    assert q.params["targets"] == [{"id": "a", "version": None}, {"id": "b", "version": 4}]


class UnappliedWrites(RecordingRunner):
    async def write(self, query: Query) -> list[dict[str, Any]]:
        self.writes.append(query)
        return []  # the compare-and-set matched nothing


@pytest.mark.parametrize(
    ("stored", "error"),
    [([], NotFound), ([{"state": "deleted", "version": 3}], NotFound), ([{"state": "active", "version": 7}], Conflict)],
)
async def test_a_replace_that_did_not_apply_reads_why(stored: list[dict[str, Any]], error: type[Exception]) -> None:
    runner = UnappliedWrites(rows=stored)
    store = CypherGraphStore(runner=runner)
    with pytest.raises(error):
        await store.replace_memory(
            hostile_memory(), HistoryEntry("i", EventKind.UPDATE, "", "", NOW), expected_version=1
        )
    assert [q.name for q in runner.reads] == ["memory_version"]


class ColumnsRunner(RecordingRunner):
    """Answers every statement with rows holding exactly the columns its RETURN names (values
    from ``values``, one row per entry of ``per_query[name]``), in reverse order: the store
    must read each field by its alias, and only aliases the statement returns."""

    def __init__(self, values: dict[str, Any], per_query: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__()
        self.values, self.per_query = values, per_query

    def _answer(self, query: Query) -> list[dict[str, Any]]:
        columns = returned_columns(query.text)
        if not columns:
            return []
        aliases = list(reversed(columns[-1][0]))
        return [{a: {**self.values, **o}[a] for a in aliases} for o in self.per_query.get(query.name, [{}])]

    async def write(self, query: Query) -> list[dict[str, Any]]:
        self.writes.append(query)
        return self._answer(query)

    async def read(self, query: Query) -> list[dict[str, Any]]:
        self.reads.append(query)
        return self._answer(query)


async def test_the_store_reads_rows_by_the_aliases_its_statements_return() -> None:
    from recalld.kernel.domain import Edge, EntityNode, Path

    m = hostile_memory()
    edge = Edge("A", "p", "B", m.id, NOW, None)
    values = {
        **cypher.memory_writes.memory_props(m),
        "memory_id": m.id,
        "event": "add",
        "old_text": "",
        "new_text": m.text,
        "at": to_micros(NOW),
        "seq": 1,
        "i": 0,
        "norm": "a",
        "name": "A",
        "type": "person",
        "subject": "a",
        "predicate": "p",
        "object": "b",
        "ord": 0,
        "other": "b",
        "other_name": "B",
        "other_type": "thing",
        "start_name": "A",
        "edges": [["A", "p", "B", m.id, to_micros(NOW), None]],
        "total": 3,
        "actor": "tutor",
        "rule": "",
        "old_triples": "[]",
        "new_triples": "[]",
        "ends": [],
    }
    entities = [{"norm": "a", "name": "A"}, {"norm": "b", "name": "B", "type": "thing"}]
    incident = [{"subject": "A", "object": "B"}]  # display names here, norms in memory_entities
    incident = [{**i, "valid_from": to_micros(NOW), "valid_to": None} for i in incident]
    per_query = {"find_entities": entities, "incident_edges": incident, "resolve_aliases": [], "entity_aliases": []}
    runner = ColumnsRunner(values, per_query)
    store = CypherGraphStore(runner=runner)
    assert cypher.values.row_to_memory(dict(reversed(list(cypher.memory_writes.memory_props(m).items())))) == m
    assert await store.get_any(m.id, SCOPE) == m
    assert await store.get_memories([m.id], SCOPE) == {m.id: m}
    assert await store.get_all([m.id]) == [m]
    assert await store.list_memories(SCOPE, [], 10, None) == [m]
    assert await store.find_scope_ids(SCOPE) == [m.id]
    assert await store.find_by_hash(SCOPE, [m.content_hash]) == {m.content_hash: m.id}
    assert await store.history(m.id, SCOPE) == [
        HistoryEntry(m.id, EventKind.ADD, "", m.text, NOW, actor="tutor", episode_id=m.episode_id)
    ]
    assert await store.link_entities(SCOPE, ["A", "c", "b"]) == ["a", "b"]
    assert await store.memory_entities([m.id]) == {m.id: ["a", "b"]}
    assert await store.expand(SCOPE, ["a"], 2, 5) == [Path("A", (edge,))] * 2
    subgraph = await store.subgraph(SCOPE, "a", 2, 5)
    assert subgraph is not None and subgraph.edges == (edge,)
    assert subgraph.nodes == (EntityNode("A", "person"), EntityNode("B", "thing"))
    assert await store.paths_between(SCOPE, "a", "b", 2, 5) == [Path("A", (edge,))] * 2
    assert (await store.pending_index(5)).upserts == ((m, 1),)
    assert (await store.index_targets([m.id])).upserts == ((m, 1),)
    assert await store.mark_indexed({m.id: 1}) == set()
    assert await store.index_state() == {m.id: True}
    assert await store.count_memories() == 3
    assert await store.delete_memories([m.id], at=NOW) == {m.id: 1}
    await store.replace_memory(m, HistoryEntry(m.id, EventKind.UPDATE, "", "", NOW), expected_version=1)


@pytest.mark.parametrize("scope", ERASE_SCOPES, ids=lambda s: "+".join(k for k, _ in s.items()) + "/exact" * s.exact)
async def test_erase_scope_is_one_statement(scope: Scope) -> None:
    """The erasure is one transaction: one statement, no read before it."""
    runner = RecordingRunner(rows=[dict.fromkeys(cypher.erasure.ERASURE_COUNTS, 1)])
    counts = await CypherGraphStore(runner=runner).erase_scope("e", scope)
    assert [q.name for q in runner.writes] == ["erase_scope"] and runner.reads == []
    assert counts == ErasureCounts(1, 1, 1, 1, 1, 1, 1, 0)  # vectors are finish_erasure's


def test_erase_scope_removes_grants_and_the_namespace_as_the_scope_says() -> None:
    def text(scope: Scope) -> str:
        return cypher.erasure.erase_scope_query("e", scope).text

    assert "(g:Grant {user_key: $grant_user_key})" in text(Scope("u"))
    assert "$grant_agent" in text(Scope("u", "a")) and "$grant_agent" in text(Scope(agent_id="a"))
    assert "(g:Grant" not in text(Scope("u", "", "r")) and "(g:Grant" not in text(Scope(run_id="r"))
    assert "$namespace" in text(Scope("u"))
    for scope in (Scope("u", exact=True), Scope("u", "a"), Scope("u", "", "r"), Scope(agent_id="a")):
        assert "$namespace" not in text(scope)
    assert cypher.erasure.erase_scope_query("e", Scope("u")).params["namespace"] == "u:u"
    with pytest.raises(ValueError, match="empty scope"):
        cypher.erasure.erase_scope_query("e", Scope())


async def test_control_plane_rows_are_read_by_alias() -> None:
    key = hostile_key()
    erasure = Erasure(HOSTILE, SCOPE, NOW, HOSTILE, ErasureCounts(1, 2, 3, 4, 5, 6, 7, 8), NOW)
    values = {
        **cypher.credentials.api_key_props(key),
        **cypher.erasure.erasure_props(erasure),
        "name": key.name,
        "total": 4,
    }
    values["id"] = key.id
    runner = ColumnsRunner(values, {})
    store = CypherGraphStore(runner=runner)
    assert await store.get_api_key(key.id) == key
    assert await store.list_api_keys("") == [key]
    assert await store.revoke_api_key(key.id, NOW, HOSTILE) == key
    assert await store.count_user_memories(HOSTILE) == 4
    values.update(cypher.erasure.erasure_props(erasure))
    assert await store.get_erasure(erasure.id) == erasure
    assert await store.unfinished_erasures() == [erasure]
    assert await store.finish_erasure(erasure.id, 8, NOW, erasure.scope) == erasure
    assert await store.list_tenants() == [key.name]
    assert cypher.credentials.row_to_api_key(dict(reversed(list(cypher.credentials.api_key_props(key).items())))) == key
    unfinished = replace(erasure, completed_at=None)
    assert (
        cypher.erasure.row_to_erasure({**cypher.erasure.erasure_props(unfinished), "completed_at": None}) == unfinished
    )


def test_neo4j_schema_is_idempotent() -> None:
    ddl = cypher.schema.neo4j_schema()
    pattern = r"CREATE (CONSTRAINT|INDEX|FULLTEXT INDEX) recalld_\w+ IF NOT EXISTS FOR "
    assert ddl and all(re.match(pattern, s) for s in ddl)
    assert len({s.split()[2] for s in ddl}) == len(ddl)  # unique names


def test_falkordb_indexes_cover_every_unique_property_first() -> None:
    order = [(label, prop) for label, prop, _ in cypher.schema.falkordb_indexes()]
    uniques = [(label, p) for label, props in cypher.schema.UNIQUE_KEYS for p in props]
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
    from recalld.server.config import GraphBackend, GraphSettings, Settings
    from recalld.server.environment import load_settings

    assert isinstance(_graph_store(Settings(data_dir=tmp_path)), EmbeddedGraphStore)
    assert isinstance(_graph_store(Settings(graph=GraphSettings(backend=GraphBackend.FALKORDB))), FalkorDBGraphStore)
    with pytest.raises(ValueError, match="RECALLD_GRAPH_URI"):
        _graph_store(Settings(graph=GraphSettings(backend=GraphBackend.NEO4J)))
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
    with pytest.raises(ValueError, match="RECALLD_GRAPH_BACKEND='cassandra' is not one of 'embedded', 'falkordb'"):
        load_settings({"RECALLD_GRAPH_BACKEND": "cassandra"})


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

    async def data(self) -> list[dict[str, Any]]:
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
    assert [e[1] for e in driver.log if e[0] == "ddl"] == cypher.schema.neo4j_schema()
    assert {e[2] for e in driver.log if e[0] == "ddl"} == {"mem"}
    driver.log.clear()
    await store.add_memories(Episode("e", SCOPE, (), {}, NOW, NOW), [hostile_memory()], [])
    assert [e[0] for e in driver.log] == ["session", "write", "run"]
    assert driver.log[0] == ("session", "mem") and driver.log[2][1] == cypher.memory_writes.ADD_MEMORIES
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
