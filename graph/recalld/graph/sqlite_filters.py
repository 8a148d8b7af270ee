"""Metadata filters in SQLite: ``json_extract`` comparisons with parameters only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from recalld.kernel.domain import FilterOp, MetadataFilter

_SQL_OPS = {
    FilterOp.EQ: "=",
    FilterOp.NE: "!=",
    FilterOp.GT: ">",
    FilterOp.GTE: ">=",
    FilterOp.LT: "<",
    FilterOp.LTE: "<=",
}


def _sql_value(v: Any) -> Any:
    return int(v) if isinstance(v, bool) else v


def sql_metadata_filter(filters: Sequence[MetadataFilter], column: str = "metadata") -> tuple[str, list[Any]]:
    """`` AND json_extract(metadata, ?) <op> ?`` clauses with their parameters."""
    sql: list[str] = []
    params: list[Any] = []
    for f in filters:
        path = "$." + json.dumps(f.key)  # keys match KEY_PATTERN; quoted for JSON path syntax
        if f.op is FilterOp.IN:
            marks = ",".join("?" * len(f.value))
            sql.append(f" AND json_extract({column}, ?) IN ({marks})")
            params += [path, *(_sql_value(v) for v in f.value)]
        elif f.op is FilterOp.NE:
            # A missing key is "not equal" as well.
            sql.append(f" AND (json_extract({column}, ?) IS NULL OR json_extract({column}, ?) != ?)")
            params += [path, path, _sql_value(f.value)]
        else:
            sql.append(f" AND json_extract({column}, ?) {_SQL_OPS[f.op]} ?")
            params += [path, _sql_value(f.value)]
    return "".join(sql), params
