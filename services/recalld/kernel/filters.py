"""The metadata-filter model: which keys, operators and values a filter may carry.

Every store renders validated filters in its own language, in its own module: SQLite with
parameters (recalld.graph.sqlite_filters), Cypher with parameters (recalld.graph.cypher), Milvus
through one escaping function (recalld.vector.expressions).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from recalld.kernel.domain import FilterOp, MetadataFilter
from recalld.kernel.errors import InvalidArgument

KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
MAX_FILTERS = 16
MAX_IN_VALUES = 100


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
