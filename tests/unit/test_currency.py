"""What holds now, first (recalld.core.currency): which statements report a change, and how a
newer one moves among the best hits of a question about the present."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recalld.core.currency import HANDOVER, newest_change_first, reports_change
from recalld.kernel.domain import Memory, Retriever, Scope, SearchHit

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def hit(mid: str, days: int, score: float, text: str, weight: float = 1.0) -> SearchHit:
    at = T0 + timedelta(days=days)
    memory = Memory(id=mid, text=text, scope=Scope("ann"), metadata={}, created_at=at, updated_at=at, reference_time=at)
    return SearchHit(memory, score, (Retriever.VECTOR,), relevance=score / weight, weight=weight)


@pytest.mark.parametrize(
    "text",
    [
        "I switched to oat milk.",
        "The orthodontist postponed my appointment to the 20th.",
        "My landlord raised the rent to 900 a month.",
        "I don't eat pork any more.",
        "It's the blue folder now, not the red one.",
        "Actually my flight lands at 7, not 9.",
        "We moved to Porto last spring.",
        "They pushed the launch back to May.",  # a phrasal verb with its object inside
        "I sold my old bike.",
        "We had to push the party back a week.",  # the base form after "had to"
        "Signed with a new agency in Leeds.",
        "My asthma has been much calmer since March.",  # a state said with when it began
        "Finally settled in at the new flat.",
    ],
)
def test_statements_of_a_change(text: str) -> None:
    assert reports_change(text)


@pytest.mark.parametrize(
    "text",
    [
        "My dentist is Dr. Weber.",
        "I'm allergic to shellfish.",
        "I also switched on the heating.",  # an addition: the older facts stand
        "We hired a second nurse as well.",
        "My brother started karate too.",
        "Nowhere is as quiet as the lake.",  # "now" only as a word of its own
        "I'm tired since the baby cries at night.",  # "since" as "because"
    ],
)
def test_statements_that_change_nothing(text: str) -> None:
    assert not reports_change(text)


def ids(hits: list[SearchHit]) -> list[str]:
    return [h.memory.id for h in hits]


def test_a_newer_change_moves_above_the_older_hits_and_takes_their_score() -> None:
    old = hit("old", 0, 0.8, "My yoga class is on Tuesdays.")
    other = hit("other", 5, 0.6, "I like the teacher.")
    new = hit("new", 30, 0.4, "The class moved to Thursdays.", weight=0.5)
    out = newest_change_first([old, other, new], 3)
    assert ids(out) == ["new", "old", "other"]
    assert [h.score for h in out] == [0.8, 0.8, 0.6]  # still in rank order
    assert out[0].relevance * out[0].weight == pytest.approx(out[0].score)
    assert ids(newest_change_first([old, other, new], 2)) == ["old", "other", "new"]  # beyond k: kept


def test_only_a_newer_change_moves() -> None:
    older_change = hit("was", 0, 0.5, "I switched to decaf.")
    newer_plain = hit("is", 9, 0.9, "I drink coffee with oat milk.")
    assert ids(newest_change_first([newer_plain, older_change], 3)) == ["is", "was"]  # said earlier: stays
    plain_after = hit("later", 9, 0.4, "I drink tea in the evening.")
    first = hit("first", 0, 0.9, "I drink coffee every morning.")
    assert ids(newest_change_first([first, plain_after], 3)) == ["first", "later"]  # no change said


def test_of_two_changes_the_newest_ends_first() -> None:
    start = hit("start", 0, 0.9, "My rent is 700.")
    raised = hit("raised", 10, 0.7, "The rent went up to 800.")
    again = hit("again", 20, 0.5, "They raised it again, now it's 850.")
    out = newest_change_first([start, raised, again], 3)
    assert ids(out) == ["again", "raised", "start"]
    assert [h.score for h in out] == sorted((h.score for h in out), reverse=True)


def test_nothing_to_reorder() -> None:
    only = hit("only", 0, 0.9, "I moved to Leeds.")
    assert ids(newest_change_first([], 3)) == []
    assert ids(newest_change_first([only], 3)) == ["only"]
    assert ids(newest_change_first([only, hit("b", 3, 0.5, "Now I cycle to work.")], 0)) == ["only", "b"]


def test_changes_said_at_the_same_time_keep_their_order() -> None:
    before = hit("before", 0, 0.9, "I drive to work.")
    sold = hit("sold", 9, 0.7, "Sold the car last month.")
    train = hit("train", 9, 0.5, "I take the train now.")
    assert ids(newest_change_first([before, sold, train], 3)) == ["sold", "train", "before"]
    assert ids(newest_change_first([before, train, sold], 3)) == ["train", "sold", "before"]


def test_a_change_stops_below_an_older_hit_it_may_not_pass() -> None:
    mine = hit("mine", 0, 0.9, "I live in Lisbon.")
    filler = hit("filler", 1, 0.7, "Lisbon is hilly.")
    theirs = hit("theirs", 30, 0.5, "My brother just moved to Oslo.")
    blocked = {"theirs"}
    out = newest_change_first([mine, filler, theirs], 3, lambda c, o: c.memory.id not in blocked)
    assert ids(out) == ["mine", "filler", "theirs"]  # it may pass neither older hit
    only_mine = newest_change_first([mine, filler, theirs], 3, lambda c, o: o.memory.id != "mine")
    assert ids(only_mine) == ["mine", "theirs", "filler"]  # up to the first it may not pass


@pytest.mark.parametrize(
    ("text", "hands_over"),
    [
        ("Dr. Osei has taken over my care since March.", True),
        ("We have a new nanny, Ines.", True),
        ("Mr. Sato replaced Mrs. Lund as my tutor.", True),
        ("My sister just moved to Oslo.", False),
        ("My colleague got promoted to director.", False),
    ],
)
def test_a_handover_of_a_role(text: str, hands_over: bool) -> None:
    assert (HANDOVER.search(text) is not None) is hands_over
