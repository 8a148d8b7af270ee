"""Milvus filter expressions.

Milvus Lite and Milvus 2.3 have no parameterized filter expressions (filter templates arrived
in Milvus 2.5 and Milvus Lite 3 rejects them), so expressions are built from values that pass
through one escaping function, :func:`milvus_literal`, and keys that must match
:data:`recalld.kernel.filters.KEY_PATTERN`. Nothing else from a request reaches an expression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from recalld.kernel.domain import FilterOp, MetadataFilter

_MILVUS_OPS = {
    FilterOp.EQ: "==",
    FilterOp.NE: "!=",
    FilterOp.GT: ">",
    FilterOp.GTE: ">=",
    FilterOp.LT: "<",
    FilterOp.LTE: "<=",
}


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
