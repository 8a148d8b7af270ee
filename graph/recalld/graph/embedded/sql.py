"""SQL fragments and row decoding the embedded store's concerns share: the memory and history
columns, the scope, time-range and validity clauses, and chunks of ids for ``IN (...)`` lists."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from recalld.graph.rows import memory_from_row
from recalld.kernel.domain import Memory, Scope, TimeRange, Validity
from recalld.kernel.times import from_micros as _dt
from recalld.kernel.times import to_micros as _ts

MEMORY_COLUMNS = (
    "id, user_id, agent_id, run_id, text, hash, metadata, triples, episode_id, "
    "reference_time, created_at, updated_at, state, version, "
    "valid_from, valid_to, retired_at, superseded_by, retired_by_rule, confirmations, confirmed_at, "
    "importance, last_used_at, expires_at, attributes, speaker"
)
HISTORY_COLUMNS = "memory_id, event, old_text, new_text, at, actor, rule, episode_id, old_triples, new_triples"


def scope_sql(scope: Scope, table: str = "", *, keyed: bool = False) -> tuple[str, list[Any]]:
    """The scope as SQL equalities. ``keyed``: the statement looks rows up by a key of their own
    (ids, hashes), so the scope only filters what the key found. Its columns are then written
    ``+col`` (SQLite's documented way to keep a term from choosing the index): with no statistics
    the planner takes an equality on mem_user, mem_agent or mem_run over a lookup by 50 ids, and
    ``run_id = ''`` matches nearly every row (5 ms per lookup against 0.1 at 11k memories)."""
    prefix = ("+" if keyed else "") + (f"{table}." if table else "")
    items = scope.filter_items()
    if not items:
        raise ValueError("empty scope")
    return " AND ".join(f"{prefix}{k} = ?" for k, _ in items), [v for _, v in items]


def time_sql(tr: TimeRange | None, table: str = "") -> tuple[str, list[Any]]:
    p = f"{table}." if table else ""
    sql, params = "", []
    if tr is not None and tr.start is not None:
        sql += f" AND {p}reference_time >= ?"
        params.append(_ts(tr.start))
    if tr is not None and tr.end is not None:
        sql += f" AND {p}reference_time < ?"
        params.append(_ts(tr.end))
    return sql, params


def validity_sql(validity: Validity | None, table: str = "") -> tuple[str, list[Any]]:
    """The world-validity clause on ``memories`` (see Validity), its columns qualified by ``table``
    when given."""
    p = f"{table}." if table else ""
    if validity is None or validity.include_retired:
        return "", []
    if validity.as_of is not None:
        t = _ts(validity.as_of)
        return f" AND {p}valid_from <= ? AND ({p}valid_to IS NULL OR {p}valid_to > ?)", [t, t]
    return f" AND {p}valid_to IS NULL", []


def row_to_memory(row: sqlite3.Row) -> Memory:
    return memory_from_row(tuple(row.keys()), row)


def opt_ts(dt: datetime | None) -> int | None:
    return None if dt is None else _ts(dt)


def opt_dt(us: int | None) -> datetime | None:
    return None if us is None else _dt(us)


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])
