"""The importer on the wired core: an imported item gives what an Add of it gives, batches and
re-sends included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest

from recalld.core.importer import Importer, ImportItem, episode_id_for
from recalld.kernel.domain import ChatMessage, Scope
from recalld.kernel.errors import InvalidArgument, ResourceExhausted
from recalld.kernel.requests import AddCommand
from recalld.server.app import App

CONVERSATION = [
    "I live in Berlin.",
    "My cat Luna caught a cold last week.",
    "I'm allergic to penicillin.",
    "I moved to Paris.",
    "I am vegetarian.",
    "I live in Paris.",
    "I'm allergic to penicillin.",
    "I recently started running 5 km every morning.",
]
AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


async def stream(items: Sequence[ImportItem]) -> AsyncIterator[ImportItem]:
    for item in items:
        yield item


def items(scope: Scope, texts: Sequence[str], *, infer: bool = True) -> list[ImportItem]:
    return [
        ImportItem(f"chat:{i}", scope, (ChatMessage("user", t),), {"line": i}, AT, infer=infer)
        for i, t in enumerate(texts)
    ]


async def state(app: App, scope: Scope) -> list[tuple[str, bool, str, object, datetime]]:
    page, _ = await app.memories.list_memories(scope, page_size=1000)
    return sorted((m.text, m.current, m.retired_by_rule, m.metadata.get("line"), m.reference_time) for m in page)


@pytest.mark.parametrize("batch", [1, 3, 64])
async def test_an_import_leaves_what_the_same_adds_leave(app: App, batch: int) -> None:
    added, imported = Scope(user_id=f"add{batch}"), Scope(user_id=f"imp{batch}")
    for i, t in enumerate(CONVERSATION):
        await app.memories.add(AddCommand(added, [ChatMessage("user", t)], metadata={"line": i}, reference_time=AT))
    report = await Importer(app.memories, batch_size=batch).run(stream(items(imported, CONVERSATION)))
    assert (report.received, report.imported, report.skipped_duplicates) == (8, 8, 0)
    assert await state(app, imported) == await state(app, added)
    assert report.memories_written == sum(1 for _ in await state(app, imported))
    assert (await app.indexer.verify()).consistent


async def test_a_resent_import_is_skipped_and_ids_are_stable(app: App) -> None:
    scope = Scope(user_id="resend")
    first = await Importer(app.memories, batch_size=4).run(stream(items(scope, CONVERSATION, infer=False)))
    again = await Importer(app.memories, batch_size=3).run(stream(items(scope, CONVERSATION, infer=False)))
    assert first.imported == 8 and again.imported == 0 and again.skipped_duplicates == 8
    assert episode_id_for(scope, "chat:1") == episode_id_for(Scope(user_id="resend"), "chat:1")
    assert episode_id_for(scope, "chat:1") != episode_id_for(Scope(user_id="other"), "chat:1")
    page, _ = await app.memories.list_memories(scope, page_size=1000)
    assert {m.episode_id for m in page} <= {episode_id_for(scope, f"chat:{i}") for i in range(8)}
    report = await app.indexer.verify()
    assert not report.missing_vectors and not report.orphan_vectors


async def test_a_bad_item_stops_the_import_after_the_items_before_it(app: App) -> None:
    scope = Scope(user_id="bad")
    good = items(scope, ["I live in Rome.", "I have a dog named Rex."], infer=False)
    bad = ImportItem("chat:bad", scope, (ChatMessage("user", "   "),))
    with pytest.raises(InvalidArgument, match=r"item 2 \(source_id 'chat:bad'\).*content is empty.*2 imported"):
        await Importer(app.memories).run(stream([*good, bad, *items(scope, ["I like jazz."])]))
    page, _ = await app.memories.list_memories(scope, page_size=100)
    assert sorted(m.text for m in page) == ["I have a dog named Rex.", "I live in Rome."]


@pytest.mark.parametrize(
    ("item", "error", "match"),
    [
        (ImportItem("x", Scope(), (ChatMessage("user", "hi there"),)), InvalidArgument, "scope is required"),
        (ImportItem("", Scope(user_id="u"), (ChatMessage("user", "hi there"),)), InvalidArgument, "source_id"),
        (ImportItem("x", Scope(user_id="u"), ()), InvalidArgument, "messages must not be empty"),
        (ImportItem("x", Scope(user_id="u"), (ChatMessage("user", "a" * 100_000),)), ResourceExhausted, "limit"),
    ],
)
async def test_bad_items_are_refused_and_nothing_is_written(
    app: App, item: ImportItem, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        await Importer(app.memories).run(stream([item]))
    assert (await app.indexer.verify()).memories == 0


async def test_an_empty_stream_is_refused(app: App) -> None:
    with pytest.raises(InvalidArgument, match="no items"):
        await Importer(app.memories).run(stream([]))
