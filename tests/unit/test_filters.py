"""Metadata filters: validation, the Milvus escaping function, and SQL parameters."""

import json
import sqlite3

import pytest

from recalld.graph.sqlite_filters import sql_metadata_filter
from recalld.kernel.domain import FilterOp, MetadataFilter
from recalld.kernel.errors import InvalidArgument
from recalld.kernel.filters import validate_filters
from recalld.vector.expressions import milvus_literal, milvus_metadata_filter


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ('x" or user_id != "', '"x\\" or user_id != \\""'),
        ("line\nbreak\ttab", '"line\\nbreak\\ttab"'),
        (3, "3"),
        (2.5, "2.5"),
        (True, "true"),
        (False, "false"),
        (["a", 1], '["a", 1]'),
    ],
)
def test_milvus_literal(value: object, literal: str) -> None:
    assert milvus_literal(value) == literal


def test_milvus_literal_rejects_what_it_cannot_render() -> None:
    for bad in (float("nan"), float("inf"), {"a": 1}, None):
        with pytest.raises(ValueError):
            milvus_literal(bad)


def test_escaped_string_never_closes_the_literal() -> None:
    """Every quote inside the rendered literal is preceded by a backslash."""
    for payload in ['"', '\\"', '\\\\"', 'a"b"c', "\\", '" or "" == "']:
        body = milvus_literal(payload)[1:-1]
        i = 0
        while i < len(body):
            if body[i] == "\\":
                i += 2
                continue
            assert body[i] != '"', (payload, body)
            i += 1


def test_milvus_clauses() -> None:
    clauses = milvus_metadata_filter(
        [
            MetadataFilter("topic", FilterOp.EQ, "health"),
            MetadataFilter("n", FilterOp.IN, [1, 2]),
            MetadataFilter("t", FilterOp.NE, "x"),
        ]
    )
    assert clauses == [
        'metadata["topic"] == "health"',
        '(metadata["n"] == 1 or metadata["n"] == 2)',
        '(not (exists metadata["t"]) or metadata["t"] != "x")',
    ]


@pytest.mark.parametrize(
    "f",
    [
        MetadataFilter("", FilterOp.EQ, 1),
        MetadataFilter('a"]', FilterOp.EQ, 1),
        MetadataFilter("1abc", FilterOp.EQ, 1),
        MetadataFilter("k" * 65, FilterOp.EQ, 1),
        MetadataFilter("k", FilterOp.EQ, None),
        MetadataFilter("k", FilterOp.EQ, {"nested": 1}),
        MetadataFilter("k", FilterOp.GT, True),
        MetadataFilter("k", FilterOp.IN, "not-a-list"),
        MetadataFilter("k", FilterOp.IN, []),
        MetadataFilter("k", FilterOp.EQ, float("nan")),
    ],
)
def test_invalid_filters_are_rejected(f: MetadataFilter) -> None:
    with pytest.raises(InvalidArgument):
        validate_filters([f])


def test_too_many_filters() -> None:
    with pytest.raises(InvalidArgument, match="at most"):
        validate_filters([MetadataFilter("k", FilterOp.EQ, 1)] * 17)


def test_sql_filters_run_with_parameters_against_sqlite() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE m (id TEXT, metadata TEXT)")
    rows = [("a", {"topic": "health", "n": 1, "ok": True}), ("b", {"topic": 'x" OR 1=1 --', "n": 5}), ("c", {})]
    db.executemany("INSERT INTO m VALUES (?, ?)", [(i, json.dumps(m)) for i, m in rows])

    def ids(*filters: MetadataFilter) -> list[str]:
        validate_filters(filters)
        sql, params = sql_metadata_filter(filters)
        return [r[0] for r in db.execute(f"SELECT id FROM m WHERE 1=1{sql} ORDER BY id", params)]

    assert ids(MetadataFilter("topic", FilterOp.EQ, "health")) == ["a"]
    assert ids(MetadataFilter("topic", FilterOp.EQ, 'x" OR 1=1 --')) == ["b"]
    assert ids(MetadataFilter("topic", FilterOp.NE, "health")) == ["b", "c"]
    assert ids(MetadataFilter("n", FilterOp.GTE, 2)) == ["b"]
    assert ids(MetadataFilter("n", FilterOp.IN, [1, 5])) == ["a", "b"]
    assert ids(MetadataFilter("ok", FilterOp.EQ, True)) == ["a"]
    assert ids(MetadataFilter("n", FilterOp.LT, 3), MetadataFilter("topic", FilterOp.EQ, "health")) == ["a"]
