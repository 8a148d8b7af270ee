"""SQLite fragments built from caller values: metadata filters (``json_extract`` comparisons with
parameters only) and FTS5 match expressions (bound as one parameter)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from recalld.kernel.domain import FilterOp, MetadataFilter

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
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


def fts5_match(terms: Sequence[str]) -> str:
    """The FTS5 MATCH expression for "any of ``terms``": each term one FTS5 string (double-quoted,
    an embedded ``"`` doubled; inside a string FTS5 knows no operators, column filters, prefixes or
    NEAR), the strings joined with ``OR``. Control characters become spaces (FTS5 reads a NUL as
    the end of the expression). The table's tokenizer splits a string into its words, so a term of
    several words ("New York", "2023-05-01") is a phrase. Terms without a letter or digit match
    nothing and are left out, as are repeats (compared case-insensitively); "" when none is left.
    Bind the result as a parameter: ``... WHERE memories_fts MATCH ?``."""
    kept: dict[str, str] = {}
    for term in terms:
        if any(c.isalnum() for c in term):
            clean = _CONTROL.sub(" ", term)
            kept.setdefault(clean.lower(), '"' + clean.replace('"', '""') + '"')
    return " OR ".join(kept.values())
