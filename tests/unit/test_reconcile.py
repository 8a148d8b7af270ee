"""The reconciliation rules, table-driven: one row per rule and per case it must leave alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recalld.core.reconcile import Action, Candidate, decide, is_correction, strip_cue
from recalld.core.relation_slots import canonical, variants
from recalld.core.settings import ReconcileSettings
from recalld.kernel.domain import Fact, Memory, Scope, Triple

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SETTINGS = ReconcileSettings()
BOB = Scope(user_id="bob")


def memory(mid: str, text: str, *triples: tuple[str, str, str], days: int = 0) -> Memory:
    t = T0 + timedelta(days=days)
    return Memory(
        id=mid,
        text=text,
        scope=BOB,
        metadata={},
        created_at=t,
        updated_at=t,
        reference_time=t,
        triples=tuple(Triple(*x) for x in triples),
    )


def fact(text: str, *triples: tuple[str, str, str], **hints: str) -> Fact:
    return Fact(text=text, triples=tuple(Triple(*x) for x in triples), speaker="bob", hints=hints)


BERLIN = memory("berlin", "I live in Berlin.", ("bob", "live_in", "Berlin"))
GOOGLE = memory("google", "I work at Google.", ("bob", "work_at", "Google"))
SIAMESE = memory("siamese", "Luna is a Siamese.", ("Luna", "is_a", "Siamese"))
LUNA_CAT = memory("lunacat", "My cat Luna caught a cold.", ("bob", "has_pet", "Luna"), ("Luna", "is_a", "cat"))
IBUPROFEN = memory("ibu", "I take ibuprofen for my back.", ("bob", "take", "ibuprofen"))
VEGETARIAN = memory("veg", "I'm a vegetarian.", ("bob", "is_a", "vegetarian"))
NOT_LATEX = memory("nolatex", "I'm not allergic to latex.", ("bob", "not_allergic_to", "latex"))
MEETING = memory("meeting", "The team meeting is on Monday.", days=3)
PARIS_2025 = memory("paris25", "I moved to Paris.", ("bob", "move_to", "Paris"), days=400)

CASES = [
    # (name, fact, candidates (memory, similarity), expected action, rule, target, retired)
    (
        "a move retires the old city",
        fact("Actually I moved to Paris last month.", ("bob", "move_to", "Paris")),
        [(BERLIN, 0.71)],
        Action.ADD, "single_valued:lives_in", "", ("berlin",),
    ),
    (
        "a new employer retires the old one",
        fact("I started working for Apple.", ("bob", "work_for", "Apple")),
        [(GOOGLE, 0.62), (BERLIN, None)],
        Action.ADD, "single_valued:works_at", "", ("google",),
    ),
    (
        "liking a city is not living there",
        fact("I like Paris.", ("bob", "like", "Paris")),
        [(BERLIN, 0.55)],
        Action.ADD, "new_fact", "", (),
    ),
    (
        "a sister's city is not mine",
        fact("My sister lives in Rome.", ("bob's sister", "live_in", "Rome")),
        [(BERLIN, 0.74)],
        Action.ADD, "new_fact", "", (),
    ),
    (
        "the same city again is not a change",
        fact("I live in Berlin, still.", ("bob", "live_in", "Berlin")),
        [(BERLIN, 0.86)],
        Action.ADD, "new_fact", "", (),
    ),
    (
        "a paraphrase reinforces",
        fact("Berlin is where I live.", ("bob", "live_in", "Berlin")),
        [(BERLIN, 0.93)],
        Action.NOOP, "paraphrase", "berlin", (),
    ),
    (
        "a near-identical sentence with another value is no paraphrase",
        fact("I live in Bern.", ("bob", "live_in", "Bern")),
        [(BERLIN, 0.91)],
        Action.ADD, "single_valued:lives_in", "", ("berlin",),
    ),
    (
        "a near-identical sentence with a new number is no paraphrase",
        fact("I take 2 ibuprofen for my back.", ("bob", "take", "ibuprofen")),
        [(IBUPROFEN, 0.95)],
        Action.ADD, "new_fact", "", (),
    ),
    (
        "a correction names the old value",
        fact("Actually Luna is a Persian, not a Siamese.", ("Luna", "is_a", "Persian"), correction="true"),
        [(LUNA_CAT, 0.55), (SIAMESE, 0.80)],
        Action.UPDATE, "correction", "siamese", (),
    ),
    (
        "I meant corrects the latest weekday",
        fact("Sorry, I meant Tuesday."),
        [(MEETING, None), (BERLIN, None)],
        Action.UPDATE, "correction", "meeting", (),
    ),
    (
        "an explicit correction with nothing to correct is added",
        fact("Sorry, I meant the blue one."),
        [(BERLIN, 0.2)],
        Action.ADD, "correction_without_target", "", (),
    ),
    (
        "a hedge on a many-valued fact corrects nothing",
        fact("Actually I love painting.", ("bob", "love", "painting")),
        [(memory("hike", "I love hiking.", ("bob", "love", "hiking")), 0.6)],
        Action.ADD, "new_fact", "", (),
    ),
    (
        "a hedge on a single-valued fact corrects it",
        fact("Actually, I work at Apple.", ("bob", "work_at", "Apple")),
        [(GOOGLE, 0.7)],
        Action.UPDATE, "correction", "google", (),
    ),
    (
        "a hedged change is a change, not a correction",
        fact("Actually I moved to Paris.", ("bob", "move_to", "Paris")),
        [(BERLIN, 0.7)],
        Action.ADD, "single_valued:lives_in", "", ("berlin",),
    ),
    (
        "stopping a medication retires taking it",
        fact("I stopped taking ibuprofen.", ("bob", "stop_take", "ibuprofen"), cessation="true"),
        [(IBUPROFEN, 0.81)],
        Action.ADD, "cessation", "", ("ibu",),
    ),
    (
        "no longer vegetarian retires vegetarian",
        fact("I'm no longer vegetarian.", ("bob", "not_is_a", "vegetarian"), cessation="true"),
        [(VEGETARIAN, 0.84)],
        Action.ADD, "cessation", "", ("veg",),
    ),
    (
        "stopping one medication leaves another",
        fact("I stopped taking aspirin.", ("bob", "stop_take", "aspirin")),
        [(IBUPROFEN, 0.7)],
        Action.ADD, "new_fact", "", (),
    ),
    (
        "giving up a thing ends taking it",
        fact("I gave up aspirin.", ("bob", "give_up", "aspirin")),
        [(memory("asp", "I take aspirin daily.", ("bob", "take", "aspirin")), 0.7), (IBUPROFEN, 0.5)],
        Action.ADD, "cessation", "", ("asp",),
    ),
    (
        "starting a job is working there",
        fact("I started working for Apple.", ("bob", "start_work_for", "Apple")),
        [(GOOGLE, 0.6)],
        Action.ADD, "single_valued:works_at", "", ("google",),
    ),
    (
        "a positive statement retires its negation",
        fact("I am allergic to latex.", ("bob", "allergic_to", "latex")),
        [(NOT_LATEX, 0.88)],
        Action.ADD, "contradiction", "", ("nolatex",),
    ),
    (
        "a later statement of a move supersedes, whatever time it names",
        fact("I moved to Paris last month.", ("bob", "move_to", "Paris")),
        [(memory("berlin-now", "I live in Berlin.", ("bob", "live_in", "Berlin"), days=29), 0.7)],
        Action.ADD, "single_valued:lives_in", "", ("berlin-now",),
    ),
    (
        "older news is added as past truth",
        fact("I moved to Berlin in 2023.", ("bob", "move_to", "Berlin")),
        [(PARIS_2025, 0.6)],
        Action.ADD, "single_valued_past", "", (),
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fact_", "candidates", "action", "rule", "target", "retired"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_rules(
    fact_: Fact,
    candidates: list[tuple[Memory, float | None]],
    action: Action,
    rule: str,
    target: str,
    retired: tuple[str, ...],
) -> None:
    d = decide(
        fact_, [Candidate(m, s) for m, s in candidates], SETTINGS, T0 + timedelta(days=30), T0 + timedelta(days=30)
    )
    assert (d.action, d.rule, d.target, d.retire) == (action, rule, target, retired)


def test_past_truth_ends_where_the_stored_fact_begins() -> None:
    d = decide(
        fact("I moved to Berlin in 2023.", ("bob", "move_to", "Berlin")),
        [Candidate(PARIS_2025, 0.6)],
        SETTINGS,
        T0 + timedelta(days=30),
    )
    assert d.past_until == PARIS_2025.valid_from


def test_corrections_rewrite_the_text() -> None:
    d = decide(fact("Sorry, I meant Tuesday."), [Candidate(MEETING)], SETTINGS, T0)
    assert d.corrected_text == "The team meeting is on Tuesday."
    d = decide(fact("Actually, I work at Apple.", ("bob", "work_at", "Apple")), [Candidate(GOOGLE, 0.7)], SETTINGS, T0)
    assert d.corrected_text == "I work at Apple."


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [("move_to", "lives_in"), ("not_live_in", "lives_in"), ("stop_take", "take"), ("start_take", "take"),
     ("quit_work_at", "works_at"), ("like", "like")],
)  # fmt: skip
def test_canonical_predicates(predicate: str, expected: str) -> None:
    assert canonical(predicate, SETTINGS) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Actually I moved to Paris.", True),
        ("Sorry, I meant Tuesday.", True),
        ("Luna is a Persian, not a Siamese.", True),
        ("Not Monday but Tuesday.", True),
        ("I actually enjoy running.", False),
        ("I moved to Paris.", False),
        ("I'm not sure about the trip.", False),
    ],
)
def test_correction_cues(text: str, expected: bool) -> None:
    assert is_correction(fact(text)) is expected


def test_strip_cue() -> None:
    assert strip_cue("Actually, Luna is a Persian.") == "Luna is a Persian."
    assert strip_cue("Luna is a Persian.") == "Luna is a Persian."


def test_configuration_changes_the_rules() -> None:
    custom = ReconcileSettings(single_valued=frozenset({"has_pet"}), equivalents={})
    d = decide(
        fact("I have a dog called Rex.", ("bob", "has_pet", "Rex")),
        [Candidate(LUNA_CAT, 0.5)],
        custom,
        T0 + timedelta(days=1),
    )
    assert d.retire == ("lunacat",)
    d = decide(fact("I moved to Paris.", ("bob", "move_to", "Paris")), [Candidate(BERLIN, 0.7)], custom, T0)
    assert d.retire == ()  # without the equivalence move_to is not lives_in


def test_variants_cover_every_stored_form_of_a_slot() -> None:
    forms = variants("move_to", SETTINGS)
    assert {"live_in", "move_to", "relocate_to", "not_live_in", "stop_live_in", "lives_in"} <= forms
    assert all(canonical(f, SETTINGS) == "lives_in" for f in forms)
    assert "like" not in forms
