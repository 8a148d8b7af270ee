"""What the GraphStore contract tests write (the other contract suites use it too): a fixed clock,
two users, memories with triples, and how a test writes, seeds and updates them."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from recalld.kernel.domain import Episode, EventKind, HistoryEntry, Memory, Scope, Triple

if TYPE_CHECKING:
    from tests.contract.conftest import GraphWriter


NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


def mem(
    scope: Scope, text: str, *triples: tuple[str, str, str], minutes: int = 0, speaker: str = "", **meta: object
) -> Memory:
    t = NOW + timedelta(minutes=minutes)
    return Memory(
        id=str(uuid.uuid4()),
        text=text,
        scope=scope,
        metadata=meta,
        created_at=t,
        updated_at=t,
        reference_time=t,
        triples=tuple(Triple(s, p, o) for s, p, o in triples),
        content_hash=text.casefold(),
        speaker=speaker,
    )


async def write(store: GraphWriter, *memories: Memory) -> None:
    scope = memories[0].scope
    episode = Episode(str(uuid.uuid4()), scope, (), {}, NOW, NOW)
    await store.add_memories(episode, memories, [HistoryEntry(m.id, EventKind.ADD, "", m.text, NOW) for m in memories])


async def seed(store: GraphWriter) -> tuple[Memory, Memory, Memory]:
    cold = mem(
        ALICE,
        "My cat Luna caught a cold.",
        ("alice", "has_pet", "Luna"),
        ("Luna", "catch", "cold"),
        speaker="Alice",
        topic="pets",
    )
    siamese = mem(ALICE, "Luna is a Siamese.", ("Luna", "is_a", "Siamese"), minutes=1)
    rex = mem(BOB, "I have a dog named Rex.", ("bob", "has_pet", "Rex"), ("Luna", "visits", "bob"))
    await write(store, cold, siamese)
    await write(store, rex)
    return cold, siamese, rex


def update_of(m: Memory, text: str, *triples: tuple[str, str, str]) -> tuple[Memory, HistoryEntry]:
    new = replace(
        m, text=text, content_hash=text.casefold(), triples=tuple(Triple(*t) for t in triples), version=m.version + 1
    )
    return new, HistoryEntry(m.id, EventKind.UPDATE, m.text, text, NOW)
