"""Scope ids that show nothing (only whitespace or zero-width characters) are refused for new
writes; memories stored under such ids before the rule stay listable, deletable and erasable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from recalld.kernel.domain import ChatMessage, Episode, Memory, Scope
from recalld.kernel.errors import InvalidArgument
from recalld.kernel.requests import AddCommand
from recalld.kernel.validation import blank
from recalld.server.app import App

BLANK_IDS = [" ", "   ", "\t", "\u00a0", "\u3000", "\u200b", "\u200b\u200d", "\ufeff", " \u2060 "]


@pytest.mark.parametrize("value", ["a", " a ", "\u200ba", "Ωmega", "-"])
def test_ids_with_a_visible_character_are_not_blank(value: str) -> None:
    assert not blank(value)


@pytest.mark.parametrize("value", BLANK_IDS)
def test_whitespace_and_zero_width_ids_are_blank(value: str) -> None:
    assert blank(value)


@pytest.mark.parametrize("field", ["user_id", "agent_id", "run_id"])
@pytest.mark.parametrize("value", [" ", "\u200b", "\ufeff \u200c"])
async def test_an_add_under_a_blank_id_is_refused_and_writes_nothing(app: App, field: str, value: str) -> None:
    scope = Scope(**{"user_id": "alice", field: value})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=f"scope.{field} must show at least one character"):
        await app.memories.add(AddCommand(scope, [ChatMessage("user", "I'm allergic to penicillin.")]))
    with pytest.raises(InvalidArgument, match=f"scope.{field}"):
        await app.operations.submit(AddCommand(scope, [ChatMessage("user", "I'm allergic to penicillin.")]))
    assert await app.graph.count_memories() == 0
    assert await app.graph.count_unfinished_operations() == 0


async def test_a_grant_naming_a_blank_agent_is_refused(app: App) -> None:
    with pytest.raises(InvalidArgument, match="must show at least one character"):
        await app.sharing.grant("alice", "medic", "\u200b")
    with pytest.raises(InvalidArgument, match="must show at least one character"):
        await app.sharing.grant("alice", " ", "coach")
    assert await app.sharing.list("alice") == []


async def test_memories_stored_under_a_blank_id_before_the_rule_stay_listable_deletable_erasable(app: App) -> None:
    legacy = Scope(user_id="\u200b", agent_id=" ")
    now = datetime.now(UTC)

    async def store(text: str) -> str:
        mem = Memory(
            id=str(uuid.uuid4()), text=text, scope=legacy, metadata={}, created_at=now, updated_at=now,
            reference_time=now, content_hash=uuid.uuid4().hex,
        )  # fmt: skip
        episode = Episode(
            id=str(uuid.uuid4()), scope=legacy, messages=(), metadata={}, reference_time=now, created_at=now
        )
        await app.graph.add_memories(episode, [mem], [])  # as a server before the rule wrote it
        return mem.id

    kept, dropped = await store("I'm allergic to penicillin."), await store("I live in Berlin.")
    await app.indexer.reconcile()

    listed, _ = await app.memories.list_memories(legacy, page_size=10)
    assert {m.id for m in listed} == {kept, dropped}
    await app.memories.delete(legacy, dropped)
    listed, _ = await app.memories.list_memories(legacy, page_size=10)
    assert [m.id for m in listed] == [kept]

    receipt = await app.eraser.erase(Scope(user_id="\u200b"))
    assert receipt.counts.memories == 2  # the kept memory and the deleted one's tombstone
    assert await app.graph.count_memories() == 0
    assert (await app.memories.list_memories(legacy, page_size=10))[0] == []
