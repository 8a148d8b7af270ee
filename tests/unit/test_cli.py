"""The CLI's argument handling (its commands run against a real server in tests/e2e)."""

from __future__ import annotations

import pytest

from recalld.server.cli import _parser, parse_filter


@pytest.mark.parametrize(
    ("expr", "parsed"),
    [
        ("title=made in china", ("title", "eq", "made in china")),  # "in" inside a value is text
        ("tags in a,b", ("tags", "in", ["a", "b"])),
        ("n in 1, 2", ("n", "in", [1, 2])),
        ("x>=3", ("x", "gte", 3)),
        ("x >= 3", ("x", "gte", 3)),
        ("x!=a=b", ("x", "ne", "a=b")),
        ('name<="3"', ("name", "lte", "3")),
        ("flag=true", ("flag", "eq", True)),
        ("topic-x=a<b", ("topic-x", "eq", "a<b")),
        ("y>2", ("y", "gt", 2)),
        ("y<2.5", ("y", "lt", 2.5)),
    ],
)
def test_filters_parse_key_then_the_first_operator(expr: str, parsed: tuple[str, str, object]) -> None:
    assert parse_filter(expr) == parsed


@pytest.mark.parametrize("expr", ["=a", "no operator", "1x=2", " in a,b"])
def test_unparseable_filters_say_how_to_write_one(expr: str) -> None:
    with pytest.raises(SystemExit, match="cannot parse filter"):
        parse_filter(expr)


def test_global_options_work_before_and_after_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECALLD_ADDRESS", raising=False)
    p = _parser()
    before = p.parse_args(["--address", "h:1", "--json", "search", "--user", "u", "q"])
    assert (before.address, before.json, before.timeout, before.command) == ("h:1", True, 30.0, "search")
    after = p.parse_args(["search", "--user", "u", "q", "--address", "h:2", "--timeout", "5"])
    assert (after.address, after.json, after.timeout) == ("h:2", False, 5.0)
    both = p.parse_args(["--address", "h:1", "verify", "--address", "h:3"])
    assert both.address == "h:3"  # the one nearest the command's arguments wins
    default = p.parse_args(["verify"])
    assert default.address == "127.0.0.1:50051"
