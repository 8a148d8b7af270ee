"""Safety properties of lists a medical app relies on, through the real pipeline (spaCy extraction,
MiniLM embeddings, reconciliation, embedded stores):

* an allergy or medication list never loses an item across Adds unless the user retracts that item;
* a retraction of one item retires only that item (the others stay current, in the same memory
  or not).

Generated with hypothesis: invented drug and allergen names (syllables, never a lexicon's words),
varied list forms ("X, Y and Z", "X as well as Y", "X plus Y", one per sentence), lists split
across Adds, and retractions of any subset in any order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recalld.extraction.spacy import SpacyExtractor
from recalld.kernel.domain import ChatMessage, Scope, norm
from recalld.kernel.requests import AddCommand
from recalld.server.app import App, build_app
from recalld.server.config import Settings, VectorSettings
from recalld.vector.embedders import MiniLMOnnxEmbedder

pytestmark = pytest.mark.slow

# Syllables that make words no lexicon holds ("zorafen", "quilbex"); endings the lemmatizer leaves alone.
ONSETS = ("zo", "qui", "vel", "tra", "mo", "ke", "dru", "pa", "xe", "lu", "bri", "sto", "fe", "gra", "ny")
MIDDLES = ("ra", "li", "vo", "ne", "ta", "mi", "so", "ka", "du", "pe")
ENDS = ("fen", "bex", "lor", "zam", "dril", "vox", "tin", "mab", "quon", "rix", "pam", "dor")
KINDS = {
    # kind: (list statements, retractions, the predicates that hold an item)
    "allergy": (
        ("I'm allergic to {}.", "I am also allergic to {}.", "Turns out I'm allergic to {}."),
        ("I'm no longer allergic to {}.", "I'm not allergic to {} any more."),
        {"allergic_to"},
    ),
    "medication": (
        ("I take {}.", "I'm also taking {}.", "I take {} every day."),
        ("I stopped taking {}.", "I no longer take {}."),
        {"take", "is_on"},
    ),
}
FORMS = ("and", "comma_and", "as_well_as", "plus", "one_per_sentence")
T0 = datetime(2025, 3, 1, 9, tzinfo=UTC)


def invented() -> st.SearchStrategy[str]:
    return st.builds(
        lambda a, b, c: a + b + c, st.sampled_from(ONSETS), st.sampled_from(MIDDLES), st.sampled_from(ENDS)
    )


def render(items: list[str], form: str, templates: tuple[str, ...], pick: int) -> str:
    """One Add's text stating ``items`` in ``form``."""
    if form == "one_per_sentence" or len(items) == 1:
        return " ".join(templates[(pick + i) % len(templates)].format(x) for i, x in enumerate(items))
    if form == "and":
        listed = " and ".join(items) if len(items) == 2 else ", ".join(items[:-1]) + " and " + items[-1]
    elif form == "comma_and":
        listed = ", ".join(items[:-1]) + ", and " + items[-1] if len(items) > 2 else " and ".join(items)
    elif form == "as_well_as":
        listed = ", ".join(items[:-1]) + " as well as " + items[-1]
    else:
        listed = " plus ".join(items) if len(items) == 2 else ", ".join(items[:-1]) + " plus " + items[-1]
    return templates[pick % len(templates)].format(listed)


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, list[str], list[str], set[str]]:
    """(kind, the Adds' texts in order, every item, the items retracted)."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    statements, retractions, _ = KINDS[kind]
    items = draw(st.lists(invented(), min_size=2, max_size=5, unique=True))
    cuts = sorted(draw(st.sets(st.integers(1, len(items) - 1), max_size=len(items) - 1)))
    groups = [items[a:b] for a, b in zip([0, *cuts], [*cuts, len(items)], strict=True)]
    texts = [render(g, draw(st.sampled_from(FORMS)), statements, draw(st.integers(0, 2))) for g in groups]
    retracted = draw(st.lists(st.sampled_from(items), unique=True, max_size=len(items) - 1))
    texts += [retractions[draw(st.integers(0, 1))].format(x) for x in retracted]
    return kind, texts, items, set(retracted)


@pytest.fixture(scope="module")
def pipeline(
    tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMOnnxEmbedder, extractor: SpacyExtractor
) -> Iterator[tuple[asyncio.AbstractEventLoop, App]]:
    """One app on real embedded stores for every example (each example its own user)."""
    loop = asyncio.new_event_loop()
    data: Path = tmp_path_factory.mktemp("list-safety")
    config = replace(Settings(), data_dir=data, reconcile_interval_s=0.0, vector=VectorSettings(lite_process=False),
                     model_process=False)  # fmt: skip
    app = build_app(config, embedder=embedder, extractor=extractor)
    loop.run_until_complete(app.start())
    try:
        yield loop, app
    finally:
        loop.run_until_complete(app.close())
        loop.close()


async def held(app: App, scope: Scope, predicates: set[str]) -> set[str]:
    """The items the scope's current memories hold for the user (positive relations only)."""
    out: set[str] = set()
    memories, _ = await app.memories.list_memories(scope, page_size=1000, include_retired=False)
    for m in memories:
        for t in m.triples:
            if norm(t.subject) == norm(scope.user_id) and t.predicate in predicates:
                out.add(norm(t.object))
    return out


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories())
def test_a_list_keeps_every_item_nobody_retracted(
    pipeline: tuple[asyncio.AbstractEventLoop, App], history: tuple[str, list[str], list[str], set[str]]
) -> None:
    loop, app = pipeline
    kind, texts, items, retracted = history
    scope = Scope(user_id=f"patient-{uuid.uuid4().hex[:8]}")

    async def run() -> set[str]:
        for i, text in enumerate(texts):
            await app.memories.add(
                AddCommand(scope, [ChatMessage("user", text)], reference_time=T0 + timedelta(days=i))
            )
        return await held(app, scope, KINDS[kind][2])

    current = loop.run_until_complete(run())
    missing = {x for x in items if x not in retracted and x not in current}
    assert not missing, f"lost {sorted(missing)} after {texts}"
    still = {x for x in retracted if x in current}
    assert not still, f"retracted {sorted(still)} still current after {texts}"
