"""The one time encoding of recalld: integer microseconds since the Unix epoch, UTC.

Every store (SQLite, Cypher, Milvus scalar fields) and every page token encodes datetimes with
:func:`to_micros` and decodes them with :func:`from_micros`: exact (no float rounding), totally
ordered, and the same number everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def to_micros(dt: datetime) -> int:
    """Exact integer microseconds since the epoch (naive datetimes are local time, as timestamp())."""
    return (dt.astimezone(UTC) - _EPOCH) // _MICRO


def from_micros(us: int | float) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))
