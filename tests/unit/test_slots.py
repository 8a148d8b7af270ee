"""Slots: relation classes decide which facts compete (recalld.kernel.slots, recalld.core.reconcile),
the fallback for unlisted predicates (recalld.core.classify), and lists that lose one item."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from recalld.core.classify import SlotFallback
from recalld.core.reconcile import Action, Candidate, decide
from recalld.core.relation_slots import is_single, slot_of
from recalld.core.settings import ReconcileSettings
from recalld.kernel import slots
from recalld.kernel.domain import Fact, Memory, Scope, Triple

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SETTINGS = ReconcileSettings()
BOB = Scope(user_id="bob")


def memory(mid: str, text: str, *triples: tuple[str, ...], days: int = 0) -> Memory:
    t = T0 + timedelta(days=days)
    return Memory(id=mid, text=text, scope=BOB, metadata={}, created_at=t, updated_at=t, reference_time=t,
                  triples=tuple(Triple(*x) for x in triples))  # fmt: skip


def fact(text: str, *triples: tuple[str, ...]) -> Fact:
    return Fact(text=text, triples=tuple(Triple(*x) for x in triples), speaker="bob")


def later(f: Fact, candidates: Sequence[tuple[Memory, float | None]], learned: dict[str, str] | None = None) -> object:
    return decide(f, [Candidate(m, s) for m, s in candidates], SETTINGS, T0 + timedelta(days=30), learned=learned)


@pytest.mark.parametrize(
    ("triple", "expected"),
    [
        (("bob", "hired_by", "Capgemini", "person", "org"), "works_at"),
        (("bob", "employ_by", "Capgemini", "person", "org"), "works_at"),
        (("bob", "join", "Capgemini", "person", "org"), "works_at"),  # a proper name: an employer
        (("bob", "join", "book club", "person", "concept"), "join"),  # a club is not a job
        (("bob", "base_in", "Leeds", "person", "gpe"), "lives_in"),
        (("bob", "has_favourite_food", "ramen", "person", "concept"), "favourite:food"),
        (("bob", "has_favourite", "ramen", "person", "concept"), "favourite:"),
        (("bob", "has_swim_coach", "Hannah Lee", "person", "person"), "role:swim_coach"),
        (("bob", "has_swim_coach", "bob's swim coach", "person", "person"), "has_swim_coach"),  # a description
        (("bob's biology exam", "is_on", "April 12", "concept", "date"), "date:when"),
        (("bob", "has_biology_exam_on", "April 12", "person", "date"), "date:has_biology_exam_on"),
        (("bob", "have_on", "Friday", "person", "date"), "dated:have_on"),  # an MRI on Wednesday, bloodwork Friday
    ],
)
def test_relation_classes(triple: tuple[str, ...], expected: str) -> None:
    assert slot_of(Triple(*triple), SETTINGS) == expected


def test_single_and_many() -> None:
    assert is_single("works_at", SETTINGS) and is_single("role:tutor", SETTINGS) and is_single("date:when", SETTINGS)
    assert not is_single("dated:have_on", SETTINGS) and not is_single("allergic_to", SETTINGS)
    assert {"lives_in", "works_at", "works_as", "has_email", "has_phone", "takes_dose"} <= slots.single_valued()


def test_an_employer_stated_with_other_verbs_replaces_the_old_one() -> None:
    old = memory("acc", "I work at Accenture.", ("bob", "work_at", "Accenture", "person", "org"))
    d = later(fact("I was hired by Capgemini.", ("bob", "hired_by", "Capgemini", "person", "org")), [(old, 0.5)])
    assert d.action is Action.ADD and d.retire == ("acc",) and d.rule == "single_valued:works_at"  # type: ignore[attr-defined]
    d = later(fact("I joined a choir.", ("bob", "join", "choir", "person", "concept")), [(old, 0.3)])
    assert d.retire == ()  # type: ignore[attr-defined]


def test_a_role_changes_hands_also_without_its_subject() -> None:
    old = memory("lee", "My swim coach is Hannah Lee.", ("bob", "has_swim_coach", "Hannah Lee", "person", "person"))
    new = fact("There's a new coach at my club, Pieter.", ("bob", "has_coach", "Pieter", "person", "person"))
    assert later(new, [(old, 0.62)]).retire == ("lee",)  # type: ignore[attr-defined]
    assert later(new, [(old, 0.2)]).retire == ()  # type: ignore[attr-defined]  # not close: another coach
    other = memory("kim", "My piano teacher is Ms Kim.", ("bob", "has_piano_teacher", "Ms Kim", "person", "person"))
    assert later(new, [(other, 0.7)]).retire == ()  # type: ignore[attr-defined]


def test_a_dose_is_one_slot_per_medication() -> None:
    old = memory("n20", "I take Nuvexa 20 mg.", ("bob", "takes_dose", "Nuvexa 20 mg", "person", "quantity"))
    other = memory("b5", "I take bisoprolol 5 mg.", ("bob", "takes_dose", "bisoprolol 5 mg", "person", "quantity"))
    d = later(fact("My Nuvexa went down to 10 mg.", ("bob", "takes_dose", "Nuvexa 10 mg")), [(old, 0.7), (other, 0.6)])
    assert d.retire == ("n20",)  # type: ignore[attr-defined]


def test_a_rescheduled_exam_keeps_one_date_and_two_appointments_keep_theirs() -> None:
    old = memory("e12", "My biology exam is on April 12.", ("bob's biology exam", "is_on", "April 12", "c", "date"))
    d = later(fact("They moved my biology exam to April 19.", ("bob's biology exam", "is_on", "April 19", "c", "date")),
              [(old, 0.8)])  # fmt: skip
    assert d.retire == ("e12",)  # type: ignore[attr-defined]
    mri = memory("mri", "I have an MRI on Wednesday.", ("bob", "have_on", "Wednesday", "person", "date"))
    assert (
        later(fact("I have bloodwork on Friday.", ("bob", "have_on", "Friday", "p", "date")), [(mri, 0.6)]).retire == ()
    )  # type: ignore[attr-defined]


def test_giving_up_a_kind_ends_what_it_covers() -> None:
    espresso = memory("esp", "I drink two espressos a day.", ("bob", "drink", "two espressos"))
    tea = memory("wine", "I drink wine on Fridays.", ("bob", "drink", "wine"))
    d = later(fact("I gave up caffeine.", ("bob", "give_up", "caffeine")), [(espresso, 0.4), (tea, 0.3)])
    assert d.retire == ("esp",)  # type: ignore[attr-defined]
    assert slots.covers("alcohol", "wine") and not slots.covers("caffeine", "wine")


def test_a_favourite_without_a_category_replaces_a_close_one() -> None:
    old = memory("sushi", "My favourite food is sushi.", ("bob", "has_favourite_food", "sushi"))
    new = fact("These days pho is my favourite.", ("bob", "has_favourite", "pho"))
    assert later(new, [(old, 0.6)]).retire == ("sushi",)  # type: ignore[attr-defined]
    assert later(new, [(old, 0.1)]).retire == ()  # type: ignore[attr-defined]


def test_retracting_one_item_of_a_list_keeps_the_others_in_the_memory() -> None:
    old = memory(
        "list", "I'm allergic to vexolin, tramidor and quelbane.",
        ("bob", "allergic_to", "vexolin"), ("bob", "allergic_to", "tramidor"), ("bob", "allergic_to", "quelbane"),
    )  # fmt: skip
    d = later(fact("I'm no longer allergic to tramidor.", ("bob", "not_allergic_to", "tramidor")), [(old, 0.8)])
    assert d.retire == () and d.trims == (("list", "I'm allergic to vexolin and quelbane."),)  # type: ignore[attr-defined]
    single = memory("one", "I'm allergic to tramidor.", ("bob", "allergic_to", "tramidor"))
    d = later(fact("I'm no longer allergic to tramidor.", ("bob", "not_allergic_to", "tramidor")), [(single, 0.9)])
    assert d.retire == ("one",) and d.trims == ()  # type: ignore[attr-defined]
    prose = memory(
        "prose", "I'm allergic to vexolin since a bad night with tramidor.",
        ("bob", "allergic_to", "vexolin"), ("bob", "allergic_to", "tramidor"),
    )  # fmt: skip
    d = later(fact("I'm not allergic to tramidor.", ("bob", "not_allergic_to", "tramidor")), [(prose, 0.8)])
    assert d.retire == ("prose",)  # type: ignore[attr-defined]  # not a plain list: never a garbled text


class Phrases:
    """An embedder that places phrases by a table (unknown ones far from everything), counting calls."""

    def __init__(self, table: dict[str, int]) -> None:
        self.table, self.calls = table, 0

    @property
    def dim(self) -> int:
        return 8

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, self.table.get(t, 7)] = 1.0
        return out


async def test_the_fallback_places_unlisted_predicates_and_caches_them() -> None:
    examples = {e: 0 for e in slots.BY_NAME["works_at"].examples}
    embedder = Phrases({**examples, "recruit by": 0, "bake": 5})
    fallback = SlotFallback(embedder, SETTINGS, vocabulary=False)  # live: every predicate embedded
    named = [Triple("bob", p, "Capgemini") for p in ("recruit_by", "bake", "work_at")]
    assert await fallback.learn(named) == {"recruit_by": "works_at"}
    calls = embedder.calls
    assert await fallback.learn([Triple("bob", "not_recruit_by", "Capgemini")]) == {"recruit_by": "works_at"}
    assert embedder.calls == calls  # cached: no second embedding
    assert await fallback.learn([Triple("bob", "adore", "painting")]) == {}
    assert embedder.calls == calls  # no value a slot could hold: not even looked at
    old = memory("acc", "I work at Accenture.", ("bob", "work_at", "Accenture"))
    d = later(
        fact("Capgemini recruited me.", ("bob", "recruit_by", "Capgemini")), [(old, 0.5)], {"recruit_by": "works_at"}
    )
    assert d.retire == ("acc",)  # type: ignore[attr-defined]
