"""Stored rows -> memories, through the decoded-row cache: a hit is the very row it was decoded
from, so no change of any column can be served stale."""

from __future__ import annotations

import json

from recalld.graph.rows import decode_cache_clear, decode_cache_info, memory_from_row
from recalld.kernel.domain import MemoryState

NAMES = (
    "id", "user_id", "agent_id", "run_id", "text", "hash", "metadata", "triples", "episode_id", "reference_time",
    "created_at", "updated_at", "state", "version", "last_used_at",
)  # fmt: skip


def row(**changed: object) -> list[object]:
    v: dict[str, object] = {
        "id": "m1", "user_id": "alice", "agent_id": "", "run_id": "", "text": "I live in Berlin.", "hash": "h",
        "metadata": json.dumps({"topic": "home"}), "triples": json.dumps([["alice", "live_in", "Berlin"]]),
        "episode_id": "e1", "reference_time": 1_700_000_000_000_000, "created_at": 1_700_000_000_000_000,
        "updated_at": 1_700_000_000_000_000, "state": "active", "version": 1, "last_used_at": None,
    }  # fmt: skip
    v.update(changed)
    return [v[n] for n in NAMES]


def test_the_same_row_is_decoded_once_and_any_changed_column_is_decoded_again() -> None:
    decode_cache_clear()
    first = memory_from_row(NAMES, row())
    assert first.text == "I live in Berlin." and first.metadata == {"topic": "home"} and first.version == 1
    assert memory_from_row(NAMES, row()) is first
    assert decode_cache_info()[:2] == (1, 1)
    used = memory_from_row(NAMES, row(last_used_at=1_700_000_100_000_000))  # a touch: same version
    assert used.last_used_at is not None and used.version == 1
    newer = memory_from_row(NAMES, row(text="I live in Paris.", version=2))
    assert newer.text == "I live in Paris." and newer.version == 2
    gone = memory_from_row(NAMES, row(state="deleted", version=3))
    assert gone.state is MemoryState.DELETED
    assert memory_from_row(NAMES, row()) is first  # the old row is still the old memory


def test_a_row_with_an_unhashable_value_is_decoded_without_the_cache() -> None:
    decode_cache_clear()
    m = memory_from_row((*NAMES, "extra"), [*row(), ["a", "list"]])
    assert m.text == "I live in Berlin."
    assert decode_cache_info() == (0, 0, 0)


def test_clearing_forgets_every_decoded_row() -> None:
    memory_from_row(NAMES, row(id="m2"))
    assert decode_cache_info()[2] >= 1
    decode_cache_clear()
    assert decode_cache_info()[2] == 0
