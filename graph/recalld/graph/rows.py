"""Stored fields -> domain values, shared by every graph backend."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from recalld.kernel.domain import Memory, MemoryState, Scope, Triple
from recalld.kernel.times import from_micros


def memory_from_fields(v: Mapping[str, Any]) -> Memory:
    """A Memory from a backend's stored fields by name (metadata and triples as JSON text, times
    as integer microseconds since the epoch)."""
    return Memory(
        id=v["id"],
        text=v["text"],
        scope=Scope(v["user_id"], v["agent_id"], v["run_id"]),
        metadata=json.loads(v["metadata"]),
        created_at=from_micros(v["created_at"]),
        updated_at=from_micros(v["updated_at"]),
        reference_time=from_micros(v["reference_time"]),
        episode_id=v["episode_id"],
        triples=tuple(Triple(*t) for t in json.loads(v["triples"])),
        state=MemoryState(v["state"]),
        content_hash=v["hash"],
        version=int(v["version"]),
    )


def triples_json(triples: object) -> str:
    return json.dumps([[t.subject, t.predicate, t.object, t.subject_type, t.object_type] for t in triples])  # type: ignore[attr-defined]
