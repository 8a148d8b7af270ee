"""bench.locomo: the pure parts (evidence and date parsing, recall, aggregation, table rendering)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.locomo import (
    Evidence,
    Result,
    aggregate,
    delta,
    load_conversations,
    parse_evidence,
    parse_session_date,
    percentile,
    recall_at_k,
    render_table,
    select_questions,
    turn_text,
)

TURNS = {"D1:1", "D1:2", "D1:3", "D8:6", "D9:17", "D11:26", "D2:4"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1:56 pm on 8 May, 2023", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("12:09 am on 13 September, 2023", datetime(2023, 9, 13, 0, 9, tzinfo=UTC)),
        ("12:30 pm on 1 January, 2024", datetime(2024, 1, 1, 12, 30, tzinfo=UTC)),
        ("10:31 AM on 13 October 2023", datetime(2023, 10, 13, 10, 31, tzinfo=UTC)),
        ("9:55 a.m. on 22 Oct, 2023", datetime(2023, 10, 22, 9, 55, tzinfo=UTC)),
        ("  8 pm on 3rd of June, 2023 ", datetime(2023, 6, 3, 20, 0, tzinfo=UTC)),
        ("18:05 on 4 July 2023", datetime(2023, 7, 4, 18, 5, tzinfo=UTC)),
        ("May 8, 2023", datetime(2023, 5, 8, tzinfo=UTC)),
        ("2:24 pm on August 14th, 2023", datetime(2023, 8, 14, 14, 24, tzinfo=UTC)),
        ("2023-05-08", datetime(2023, 5, 8, tzinfo=UTC)),
        ("8 Sept, 2023", datetime(2023, 9, 8, tzinfo=UTC)),
    ],
)
def test_session_dates_parse(text: str, expected: datetime) -> None:
    assert parse_session_date(text) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "1:56 pm on 31 February, 2023", "13:99 pm on 8 May, 2023", "8 Foo 2023"]
)
def test_unparseable_session_dates_are_none(text: str) -> None:
    assert parse_session_date(text) is None


def test_well_formed_evidence_is_kept_in_order_and_deduplicated() -> None:
    ev = parse_evidence(["D1:3", "D1:1", "D1:3"], TURNS)
    assert ev == Evidence(("D1:3", "D1:1"))


@pytest.mark.parametrize(
    ("raw", "ids", "skipped", "split"),
    [
        (["D8:6; D9:17"], ("D8:6", "D9:17"), (), 1),  # joined by ';'
        (["D8:6 D9:17"], ("D8:6", "D9:17"), (), 1),  # joined by a space
        (["D8:6,D9:17"], ("D8:6", "D9:17"), (), 1),
        (["D8:6D9:17"], ("D8:6", "D9:17"), (), 1),  # run together
        (["D"], (), (("D", "malformed"),), 0),
        (["D:11:26"], (), (("D:11:26", "malformed"),), 0),  # ambiguous: not guessed
        (["D1:2", "D"], ("D1:2",), (("D", "malformed"),), 0),
        (["D30:5"], (), (("D30:5", "no such turn"),), 0),  # points at a turn that does not exist
        (["D1:3; D30:5; x"], ("D1:3",), (("x", "malformed"), ("D30:5", "no such turn")), 1),
        (["d01:03"], ("D1:3",), (), 0),  # case and leading zeros normalized
        ([""], (), (("", "malformed"),), 0),
        ([], (), (), 0),
        (None, (), (), 0),
        ("D2:4", ("D2:4",), (), 0),  # a bare string instead of a list
    ],
)
def test_malformed_evidence(
    raw: list[str] | str | None, ids: tuple[str, ...], skipped: tuple[tuple[str, str], ...], split: int
) -> None:
    ev = parse_evidence(raw, TURNS)
    assert ev.ids == ids
    assert sorted(ev.skipped) == sorted(skipped)
    assert ev.split == split


def test_recall_at_k_dedupes_and_ignores_hits_without_dia_id() -> None:
    ranked = ["D1:1", "D1:1", None, "D1:2", "D9:9"]
    assert recall_at_k(["D1:1", "D1:2"], ranked, 1) == 0.5
    assert recall_at_k(["D1:1", "D1:2"], ranked, 3) == 0.5
    assert recall_at_k(["D1:1", "D1:2"], ranked, 4) == 1.0
    assert recall_at_k(["D1:1"], [], 10) == 0.0
    assert recall_at_k(["D1:1", "D1:1"], ["D1:1"], 20) == 1.0  # evidence counted as a set
    with pytest.raises(ValueError):
        recall_at_k([], ranked, 1)


def test_percentile_nearest_rank() -> None:
    xs = [float(x) for x in range(1, 101)]
    assert percentile(xs, 50) == 51.0  # index round(49.5) = 50
    assert percentile(xs, 95) == 95.0
    assert percentile([3.0], 95) == 3.0


def test_turn_text_appends_caption() -> None:
    assert turn_text({"text": "Look at this!", "blip_caption": "a dog on a beach"}) == (
        "Look at this! [shares a photo of a dog on a beach]"
    )
    assert turn_text({"text": " Hi there. "}) == "Hi there."
    assert turn_text({"text": "x", "blip_caption": None}) == "x"


def test_aggregate_is_macro_over_questions_per_category_and_overall() -> None:
    results = [
        Result("c", 1, ("D1:1", "D1:2"), {"hybrid": ["D1:1"], "dense": ["D1:1", "D1:2"]}),
        Result("c", 4, ("D2:4",), {"hybrid": ["D2:4"], "dense": []}),
    ]
    agg = aggregate(results, ks=(1, 10))
    assert agg["multi-hop"]["hybrid"] == {1: 0.5, 10: 0.5}
    assert agg["multi-hop"]["dense"] == {1: 0.5, 10: 1.0}
    assert agg["single-hop"]["dense"][10] == 0.0
    assert agg["overall"]["hybrid"][10] == pytest.approx(0.75)
    assert agg["overall"]["dense"][10] == pytest.approx(0.5)
    assert delta(agg, "overall", 10, "hybrid", "dense") == pytest.approx(0.25)


def test_render_table_rows_and_columns() -> None:
    agg = aggregate([Result("c", 1, ("D1:1",), {"hybrid": ["D1:1"], "dense": ["D9:9", "D1:1"]})], ks=(1, 5))
    table = render_table(agg, {"multi-hop": 1, "overall": 1}, methods=("hybrid", "dense"), ks=(1, 5))
    lines = table.splitlines()
    assert lines[0] == "| category | n | method | R@1 | R@5 |"
    assert lines[1] == "|---|---:|---|---:|---:|"
    assert lines[2:] == [
        "| multi-hop | 1 | hybrid | 1.000 | 1.000 |",
        "| multi-hop | 1 | dense | 0.000 | 1.000 |",
        "| overall | 1 | hybrid | 1.000 | 1.000 |",
        "| overall | 1 | dense | 0.000 | 1.000 |",
    ]


def test_load_and_select_questions(tmp_path: Path) -> None:
    data = [
        {
            "sample_id": "conv-x",
            "conversation": {
                "speaker_a": "A",
                "speaker_b": "B",
                "session_1": [{"speaker": "A", "dia_id": "D1:1", "text": "I adopted a cat."}],
                "session_1_date_time": "1:56 pm on 8 May, 2023",
                "session_2_date_time": "2:00 pm on 9 May, 2023",  # a date without a session
                "session_10": [{"speaker": "B", "dia_id": "D10:1", "text": "Nice.", "blip_caption": "a cat"}],
                "session_10_date_time": "garbage",
            },
            "qa": [
                {"question": "q1", "answer": "a", "evidence": ["D1:1; D10:1"], "category": 1},
                {"question": "q2", "answer": "a", "evidence": ["D", "D:11:26"], "category": 4},
                {"question": "q3", "evidence": [], "category": 3},
                {"question": "q4", "adversarial_answer": "x", "evidence": ["D1:1"], "category": 5},
                {"question": "q5", "answer": "a", "evidence": ["D1:1", "D3:1"], "category": "2"},
            ],
        }
    ]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(data))
    (conv,) = load_conversations(path)
    assert [s.n for s in conv.sessions] == [1, 10]
    assert conv.sessions[0].date == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert conv.sessions[1].date is None
    assert conv.turn_ids == {"D1:1", "D10:1"}
    questions, reasons, excluded, split = select_questions([conv])
    assert [(q.text, q.category, q.evidence.ids) for q in questions] == [
        ("q1", 1, ("D1:1", "D10:1")),
        ("q5", 2, ("D1:1",)),
    ]
    assert reasons == {"malformed": 2, "no such turn": 1}
    assert excluded == 2  # q2 (nothing parseable) and q3 (no evidence at all); q4 is category 5
    assert split == 1
