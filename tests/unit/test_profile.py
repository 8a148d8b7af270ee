"""Decay weights and profiles (recalld.core.profile): pure functions, exact values."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from recalld.core.profile import ATTRIBUTES, build_profile, decay_weight, half_life_days, half_lives
from recalld.core.settings import DecaySettings
from recalld.kernel.domain import Attribute, Memory, Scope, Triple

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
SETTINGS = DecaySettings()
TABLE = half_lives(SETTINGS)


def memory(text: str, *attrs: tuple[str, str], at: datetime = T0, **kw: object) -> Memory:
    return Memory(
        id=text,
        text=text,
        scope=Scope("alice"),
        metadata={},
        created_at=at,
        updated_at=at,
        reference_time=at,
        attributes=tuple(Attribute(n, v) for n, v in attrs),
        **kw,  # type: ignore[arg-type]
    )


def test_the_documented_formula() -> None:
    m = memory("I did squats at the gym.")
    rho = 0.8 + 0.2 * 0.5  # floor + (1 - floor) * importance
    assert decay_weight(m, T0, TABLE, SETTINGS) == 1.0
    assert decay_weight(m, T0 + 365 * DAY, TABLE, SETTINGS) == pytest.approx(rho + (1 - rho) / 2)
    assert decay_weight(m, T0 + 730 * DAY, TABLE, SETTINGS) == pytest.approx(rho + (1 - rho) / 4)
    assert decay_weight(m, T0 + 100 * 365 * DAY, TABLE, SETTINGS) == pytest.approx(rho, abs=1e-6)
    assert decay_weight(m, T0 - DAY, TABLE, SETTINGS) == 1.0  # a fact from the future has no age


def test_importance_sets_the_floor() -> None:
    late = T0 + 10_000 * DAY
    assert decay_weight(memory("a", importance=1.0), late, TABLE, SETTINGS) == 1.0
    assert decay_weight(memory("b", importance=0.0), late, TABLE, SETTINGS) == pytest.approx(0.8, abs=1e-6)


def test_half_lives_per_attribute_and_predicate() -> None:
    routine = memory("I run every morning.", ("exercise_routine", "run every morning"))
    allergy = memory("I'm allergic to penicillin.", ("allergies", "penicillin"))
    by_predicate = replace(memory("x"), triples=(Triple("alice", "has_birthday", "May 3"),))
    assert half_life_days(routine, TABLE, 365) == 60
    assert half_life_days(allergy, TABLE, 365) == math.inf
    assert half_life_days(by_predicate, TABLE, 365) == math.inf
    assert half_life_days(memory("plain"), TABLE, 365) == 365
    assert decay_weight(allergy, T0 + 10_000 * DAY, TABLE, SETTINGS) == 1.0
    assert decay_weight(routine, T0 + 60 * DAY, TABLE, SETTINGS) == pytest.approx(0.9 + 0.1 / 2)
    custom = half_lives(DecaySettings(half_lives={"exercise_routine": "inf", "likes": "10"}))
    assert half_life_days(routine, custom, 365) == math.inf and custom["likes"] == 10


def test_confirmation_and_use_restart_the_clock() -> None:
    m = memory("I did squats at the gym.")
    assert decay_weight(replace(m, confirmed_at=T0 + 700 * DAY), T0 + 700 * DAY, TABLE, SETTINGS) == 1.0
    assert decay_weight(replace(m, last_used_at=T0 + 700 * DAY), T0 + 700 * DAY, TABLE, SETTINGS) == 1.0


@pytest.mark.parametrize(
    "bad", [{"floor": 1.5}, {"half_life_days": 0}, {"half_lives": {"likes": "soon"}}, {"half_lives": {"x": "-1"}}]
)
def test_bad_decay_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="decay"):
        DecaySettings(**bad)  # type: ignore[arg-type]


def test_a_profile_keeps_the_latest_single_value_and_every_multi_value() -> None:
    veg = memory("I am vegetarian.", ("diet", "vegetarian"))
    vegan = memory("I'm a vegan now.", ("diet", "vegan"), at=T0 + 30 * DAY)
    pen = memory("allergic to penicillin", ("allergies", "penicillin"))
    pea = memory("allergic to peanuts", ("allergies", "peanuts"), at=T0 + DAY)
    pen_again = memory("Penicillin allergy", ("allergies", "Penicillin"), at=T0 + 2 * DAY)
    profile = build_profile([vegan, pea, veg, pen_again, pen])
    got = [(v.category, v.name, v.value, v.multi, [m.id for m in v.memories]) for v in profile]
    assert got == [
        ("diet", "diet", "vegan", False, ["I'm a vegan now."]),
        ("health", "allergies", "Penicillin", True, ["allergic to penicillin", "Penicillin allergy"]),
        ("health", "allergies", "peanuts", True, ["allergic to peanuts"]),
    ]
    assert profile[1].valid_from == T0


def test_unknown_attributes_are_single_valued_and_never_fade() -> None:
    (v,) = build_profile(
        [memory("x", ("favourite_band", "Muse")), memory("y", ("favourite_band", "Blur"), at=T0 + DAY)]
    )
    assert (v.value, v.multi, v.category) == ("Blur", False, "other")
    assert "favourite_band" not in ATTRIBUTES
