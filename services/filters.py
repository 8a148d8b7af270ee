"""Metadata filters: validation and translation into each store's language.

SQLite gets parameters. Milvus Lite and Milvus 2.3 have no parameterized
filter expressions (filter templates arrived in Milvus 2.5 and Milvus Lite 3
rejects them), so Milvus expressions are built from values that pass through
one escaping function, :func:`milvus_literal`, and keys that must match
:data:`KEY_PATTERN`. Nothing else from a request reaches an expression.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from services.domain import FilterOp, MetadataFilter
from services.errors import InvalidArgument

KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
MAX_FILTERS = 16
MAX_IN_VALUES = 100

_SQL_OPS = {
    FilterOp.EQ: "=",
    FilterOp.NE: "!=",
    FilterOp.GT: ">",
    FilterOp.GTE: ">=",
    FilterOp.LT: "<",
    FilterOp.LTE: "<=",
}
_MILVUS_OPS = {
    FilterOp.EQ: "==",
    FilterOp.NE: "!=",
    FilterOp.GT: ">",
    FilterOp.GTE: ">=",
    FilterOp.LT: "<",
    FilterOp.LTE: "<=",
}


def _check_scalar(key: str, value: Any, *, ordered: bool) -> None:
    if isinstance(value, bool):
        if ordered:
            raise InvalidArgument(f"filter on {key!r}: a boolean cannot be compared with <, >")
        return
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidArgument(f"filter on {key!r}: number must be finite")
        return
    if isinstance(value, str):
        if len(value) > 1024:
            raise InvalidArgument(f"filter on {key!r}: string value longer than 1024 characters")
        return
    raise InvalidArgument(f"filter on {key!r}: value must be a string, number or boolean")


def validate_filters(filters: Sequence[MetadataFilter]) -> None:
    """Raise InvalidArgument for anything a store could misread."""
    if len(filters) > MAX_FILTERS:
        raise InvalidArgument(f"at most {MAX_FILTERS} metadata filters are allowed")
    for f in filters:
        if not KEY_PATTERN.match(f.key):
            raise InvalidArgument(
                f"filter key {f.key!r} is invalid: use 1-64 letters, digits, '_' or '-', not starting with a digit"
            )
        if f.op is FilterOp.IN:
            if not isinstance(f.value, list) or not f.value or len(f.value) > MAX_IN_VALUES:
                raise InvalidArgument(f"filter on {f.key!r}: IN needs a list of 1..{MAX_IN_VALUES} values")
            for v in f.value:
                _check_scalar(f.key, v, ordered=False)
        else:
            _check_scalar(f.key, f.value, ordered=f.op not in (FilterOp.EQ, FilterOp.NE))


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


def milvus_literal(value: Any) -> str:
    """Render a value as a Milvus expression literal. The only way user values
    enter a Milvus expression."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite number")
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
        escaped = escaped.replace("\t", "\\t")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(milvus_literal(v) for v in value) + "]"
    raise ValueError(f"cannot render {type(value).__name__} in a Milvus expression")


def milvus_metadata_filter(filters: Sequence[MetadataFilter], field: str = "metadata") -> list[str]:
    """Milvus expression clauses (to be ANDed) for validated filters."""
    clauses = []
    for f in filters:
        ref = f"{field}[{milvus_literal(f.key)}]"
        if f.op is FilterOp.IN:
            # Milvus only allows `in` on a field reference; spell it out.
            clauses.append("(" + " or ".join(f"{ref} == {milvus_literal(v)}" for v in f.value) + ")")
        elif f.op is FilterOp.NE:
            # "missing or different", spelled so Milvus Lite 3 and Milvus 2.3 agree.
            clauses.append(f"(not (exists {ref}) or {ref} != {milvus_literal(f.value)})")
        else:
            clauses.append(f"{ref} {_MILVUS_OPS[f.op]} {milvus_literal(f.value)}")
    return clauses
