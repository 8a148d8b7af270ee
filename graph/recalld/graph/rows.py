"""Stored fields -> domain values, shared by every graph backend."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from recalld.kernel.domain import (
    Attribute,
    ErasureCounts,
    EventKind,
    HistoryEntry,
    Memory,
    MemoryState,
    Scope,
    Triple,
)
from recalld.kernel.times import from_micros


def _time(v: Any) -> datetime | None:
    return None if v is None else from_micros(v)


def memory_from_fields(v: Mapping[str, Any]) -> Memory:
    """A Memory from a backend's stored fields by name (metadata and triples as JSON text, times
    as integer microseconds since the epoch). Fields added after recalld 0.2 (validity,
    reinforcement, importance, use, expiry, attributes, speaker) may be missing on old rows: they
    default to "valid since the reference time, confirmed once, importance 0.5, never used, never
    expires, no attributes, speaker unknown"."""
    reference_time = from_micros(v["reference_time"])
    return Memory(
        id=v["id"],
        text=v["text"],
        scope=Scope(v["user_id"], v["agent_id"], v["run_id"]),
        metadata=json.loads(v["metadata"]),
        created_at=from_micros(v["created_at"]),
        updated_at=from_micros(v["updated_at"]),
        reference_time=reference_time,
        episode_id=v["episode_id"],
        triples=triples_from_json(v["triples"]),
        state=MemoryState(v["state"]),
        content_hash=v["hash"],
        version=int(v["version"]),
        valid_from=_time(v.get("valid_from")) or reference_time,
        valid_to=_time(v.get("valid_to")),
        retired_at=_time(v.get("retired_at")),
        superseded_by=v.get("superseded_by") or "",
        retired_by_rule=v.get("retired_by_rule") or "",
        confirmations=int(v.get("confirmations") or 1),
        confirmed_at=_time(v.get("confirmed_at")),
        importance=0.5 if v.get("importance") is None else float(v["importance"]),
        last_used_at=_time(v.get("last_used_at")),
        expires_at=_time(v.get("expires_at")),
        attributes=attributes_from_json(v.get("attributes") or "[]"),
        speaker=v.get("speaker") or "",
    )


# Decoded rows, keyed by the whole stored row: any change of any column (a new version, a touch,
# a retirement) is a new key, so a hit is never stale. A Search reads ~80 candidate rows and the
# same ones recur across the searches of a scope; decoding one (JSON, eight times, a frozen
# dataclass) costs ~60 us, its key's hash ~2 us. Bounded; cleared by erasure (decode_cache_clear).
_DECODED_ROWS = 16384


@functools.lru_cache(maxsize=_DECODED_ROWS)
def _decoded(names: tuple[str, ...], values: tuple[Any, ...]) -> Memory:
    return memory_from_fields(dict(zip(names, values, strict=True)))


def memory_from_row(names: tuple[str, ...], values: Sequence[Any]) -> Memory:
    """:func:`memory_from_fields` of a row given as column names and values, through a bounded
    cache of decoded rows (a Memory is immutable, so one decoded value can serve every reader)."""
    key = tuple(values)
    try:
        return _decoded(names, key)
    except TypeError:  # an unhashable value (a list from a driver): decode without the cache
        return memory_from_fields(dict(zip(names, key, strict=True)))


def decode_cache_info() -> tuple[int, int, int]:
    """(hits, misses, rows held) of the decoded-row cache of this process."""
    info = _decoded.cache_info()
    return info.hits, info.misses, info.currsize


def decode_cache_clear() -> None:
    """Forget every decoded row (erasure: no erased text stays in this process's memory)."""
    _decoded.cache_clear()


def history_from_fields(v: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        memory_id=v["memory_id"],
        event=EventKind(v["event"]),
        old_text=v["old_text"],
        new_text=v["new_text"],
        at=from_micros(v["at"]),
        actor=v.get("actor") or "system",
        rule=v.get("rule") or "",
        episode_id=v.get("episode_id") or "",
        old_triples=triples_from_json(v.get("old_triples") or "[]"),
        new_triples=triples_from_json(v.get("new_triples") or "[]"),
    )


def attributes_json(attributes: Iterable[Attribute]) -> str:
    return json.dumps([[a.name, a.value] for a in attributes])


def attribute_name_marker(name: str) -> str:
    """The text that the stored JSON of an attribute list contains exactly when one of its
    attributes has this name (``["diet", `` in ``[["diet", "vegan"]]``): how the stores filter
    on attribute names inside their own query."""
    return "[" + json.dumps(name) + ", "


def attributes_from_json(text: str) -> tuple[Attribute, ...]:
    return tuple(Attribute(n, v) for n, v in json.loads(text))


def triples_json(triples: Iterable[Triple]) -> str:
    return json.dumps([[t.subject, t.predicate, t.object, t.subject_type, t.object_type] for t in triples])


def triples_from_json(text: str) -> tuple[Triple, ...]:
    return tuple(Triple(*t) for t in json.loads(text))


_COUNT_FIELDS = ("memories", "relations", "entities", "episodes", "history_entries", "operations", "grants", "vectors")


def erasure_counts_json(c: ErasureCounts) -> str:
    return json.dumps({f: getattr(c, f) for f in _COUNT_FIELDS}, sort_keys=True)


def erasure_counts_from_json(text: str) -> ErasureCounts:
    raw = json.loads(text or "{}")
    return ErasureCounts(**{f: int(raw.get(f, 0)) for f in _COUNT_FIELDS})
