"""bench.evolution: the dataset is well formed and the scoring means what its docstring says."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.evolution.__main__ import duplicates, is_stale, mentions, states_any, wrongly_retired
from bench.evolution.conversations import CONVERSATIONS, HELD_OUT, Conversation, Probe
from recalld.client import Memory

T = datetime(2024, 1, 1, tzinfo=UTC)


def memory(text: str, retired: bool = False) -> Memory:
    return Memory(
        id=text, text=text, user_id="u", agent_id="", run_id="", metadata={}, created_at=T, updated_at=T,
        reference_time=T, triples=(), state="active", episode_id="", version=1, valid_to=T if retired else None,
    )  # fmt: skip


def test_the_dataset_covers_every_kind_of_change() -> None:
    assert len(CONVERSATIONS) >= 60 and len(HELD_OUT) >= 20
    every = CONVERSATIONS + HELD_OUT
    assert len({c.id for c in every}) == len(every)
    categories = {c.category for c in CONVERSATIONS}
    assert {"move", "job", "medication", "allergy", "pet", "repeat", "paraphrase", "correction", "distractor"} <= (
        categories
    )
    for c in every:
        dates = [d for d, _ in c.turns]
        assert dates == sorted(dates), c.id
        assert c.probes and all(p.question and p.current for p in c.probes), c.id
        for p in c.probes:
            if p.past:
                assert dates[0] <= p.as_of, c.id  # the past answer was said by then
        if not c.changes:
            assert not any(p.past for p in c.probes), c.id


def test_keywords_match_whole_words() -> None:
    assert mentions("I moved to Paris.", "paris")
    assert not mentions("I live in Parisville.", "Paris")
    assert mentions("I run 5 km every morning.", "5 km")
    assert states_any("I work at Apple.", ("Google", "Apple"))


def test_stale_means_the_past_answer_ranks_above_the_current_one() -> None:
    probe = Probe("Where do I live?", ("Paris",), "Berlin", "2024-01-01")
    assert is_stale(["I live in Berlin.", "I moved to Paris."], probe)
    assert not is_stale(["I moved to Paris.", "I live in Berlin."], probe)
    assert is_stale(["I live in Berlin."], probe)  # past present, current missing
    assert not is_stale(["I like cheese."], probe)


def test_duplicates_count_current_copies_beyond_the_first() -> None:
    assert duplicates([memory("I play the piano."), memory("I play the piano!")], "piano") == 1
    assert duplicates([memory("I play the piano."), memory("I play the piano.", retired=True)], "piano") == 0
    assert duplicates([], "piano") == 0


def test_false_invalidations() -> None:
    keep = Conversation("k", "distractor", (("2024-01-01", "x"),), (Probe("q", ("a",)),), changes=False)
    assert wrongly_retired(keep, [memory("a"), memory("b", retired=True)]) == (1, 2)
    move = Conversation("m", "move", (("2024-01-01", "x"),), (Probe("q", ("a",)),), survive=("Denver",))
    assert wrongly_retired(move, [memory("I love Denver.", retired=True), memory("I live in Austin.")]) == (1, 1)
    assert wrongly_retired(move, [memory("I love Denver."), memory("I live in Austin.", retired=True)]) == (0, 1)
