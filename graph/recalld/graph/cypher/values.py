"""Values as the statements store and compare them, shared by the concerns: the indexed lookup
keys that stand in for caller strings, the flattened metadata the filters compare, memory rows and
optional times."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from recalld.graph.cypher.schema import META_NUMBER_PREFIX, META_STRING_PREFIX
from recalld.graph.rows import memory_from_row
from recalld.kernel.domain import Memory, Scope
from recalld.kernel.filters import KEY_PATTERN
from recalld.kernel.times import from_micros

_INT64 = 2**63


def lookup_key(*parts: str) -> str:
    """The indexed stand-in for caller strings: fixed length, hex, unambiguous for any parts."""
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def entity_key(namespace: str, norm_name: str) -> str:
    return lookup_key("entity", namespace, norm_name)


def dedup_key(scope: Scope, content_hash: str) -> str:
    return lookup_key("dedup", scope.user_id, scope.agent_id, scope.run_id, content_hash)


def flatten_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The filterable ``m_s_<key>``/``m_n_<key>`` properties for a memory's metadata."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not KEY_PATTERN.match(key) or value is None:
            continue  # no filter can name such a key; null matches like a missing key
        if isinstance(value, bool):
            out[META_NUMBER_PREFIX + key] = int(value)
        elif isinstance(value, int):
            out[META_NUMBER_PREFIX + key] = value if -_INT64 <= value < _INT64 else float(value)
        elif isinstance(value, float):
            if math.isfinite(value):
                out[META_NUMBER_PREFIX + key] = value
        elif isinstance(value, str):
            out[META_STRING_PREFIX + key] = value
        else:  # list or object: json_extract yields its compact JSON text
            out[META_STRING_PREFIX + key] = json.dumps(value, separators=(",", ":"))
    return out


def row_to_memory(row: Mapping[str, Any]) -> Memory:
    """A memory from a row of ``MEMORY_COLUMNS`` (keyed by the property names), through the
    decoded-row cache (recalld.graph.rows.memory_from_row)."""
    return memory_from_row(tuple(row), tuple(row.values()))


def opt_time(us: Any) -> datetime | None:
    return None if us is None else from_micros(us)
