"""docs/configuration.md is generated from the settings registry (each field's metadata["doc"])
and cannot drift from it: these tests fail when the file, the registry or the descriptions differ."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing
from collections import Counter
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path

import pytest

from recalld.server import cli
from recalld.server.config import BARE, Settings
from recalld.server.config_reference import (
    DOC_PATH,
    REGENERATE,
    SECTIONS,
    MissingDoc,
    env_value,
    is_secret,
    render,
)
from recalld.server.environment import known_variables, load_settings, variables

ROW = re.compile(r"^\| `(RECALLD_[A-Z0-9_]+)` \|(.*)\|$", re.MULTILINE)
UNFINISHED = re.compile(r"TODO|FIXME|XXX|TBD|placeholder|lorem|describe|\?\?", re.IGNORECASE)


def _rows(text: str) -> dict[str, list[str]]:
    """variable -> its cells after the name (default, allowed values, description)."""
    return {m.group(1): [c.strip() for c in re.split(r"(?<!\\)\|", m.group(2))] for m in ROW.finditer(text)}


def _values(settings: object, prefix: str = "RECALLD_") -> dict[str, object]:
    """variable -> the value it set in these settings."""
    out: dict[str, object] = {}
    for f in fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, f.name)
        if is_dataclass(value):
            out |= _values(value, f"{prefix}{f.name.upper()}_")
        elif f.metadata.get(BARE):  # a group's main choice: RECALLD_<GROUP> itself
            out[prefix.removesuffix("_")] = value
        else:
            out[prefix + f.name.upper()] = value
    return out


def _settings_classes(cls: type = Settings) -> list[type]:
    """Settings and every settings dataclass nested in it."""
    out = [cls]
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        kind = hints[f.name]
        if isinstance(kind, type) and is_dataclass(kind):
            out += _settings_classes(kind)
    return out


def test_the_reference_in_docs_is_the_one_the_registry_renders() -> None:
    assert DOC_PATH.is_file(), f"{DOC_PATH} is missing: run {REGENERATE}"
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        f"docs/configuration.md differs from the settings registry: run {REGENERATE}"
    )


def test_every_variable_has_exactly_one_row() -> None:
    names = Counter(m.group(1) for m in ROW.finditer(render()))
    assert sorted(names) == known_variables()
    assert [n for n, count in names.items() if count != 1] == []
    assert len(names) > 100


def test_every_variable_the_reference_mentions_exists() -> None:
    """A description naming a renamed or removed variable fails here (RECALLD_LLM_* names a group)."""
    known = known_variables()
    for m in re.finditer(r"RECALLD_[A-Z0-9_]*[A-Z0-9](_?\*)?", render()):
        if m.group(1):
            stem = m.group(0).rstrip("*")
            assert any(v.startswith(stem) for v in known), m.group(0)
        else:
            assert m.group(0) in known, m.group(0)


def test_every_field_of_every_settings_dataclass_has_a_description() -> None:
    classes = _settings_classes()
    assert len(classes) >= 8  # Settings and its groups (a new group is walked too)
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if is_dataclass(hints[f.name]):
                continue  # a group: its own fields carry the descriptions
            doc = f.metadata.get("doc")
            assert isinstance(doc, str) and len(doc.split()) >= 2, f"{cls.__name__}.{f.name}"
            assert not UNFINISHED.search(doc), f"{cls.__name__}.{f.name}: {doc!r}"
            assert "\n" not in doc and "|" not in doc, f"{cls.__name__}.{f.name}: one line, no table pipes"


@dataclass(frozen=True, slots=True)
class _Tiny:
    documented: int = field(default=1, metadata={"doc": "a setting with a description"})
    undocumented: str = "x"


@dataclass(frozen=True, slots=True)
class _Unfinished:
    pending: float = field(default=1.0, metadata={"doc": "TODO"})


@dataclass(frozen=True, slots=True)
class _Documented:
    flag: bool = field(default=False, metadata={"doc": "a switch"})
    key: str = field(default="s3cret", repr=False, metadata={"doc": "a secret"})


def test_a_setting_without_a_description_stops_the_generator() -> None:
    with pytest.raises(MissingDoc, match=r"RECALLD_UNDOCUMENTED has no description") as info:
        render(_Tiny)
    assert "RECALLD_DOCUMENTED" not in str(info.value)
    with pytest.raises(MissingDoc, match="RECALLD_PENDING: 'TODO' is a placeholder"):
        render(_Unfinished)
    text = render(_Documented, sections=())
    assert _rows(text) == {"RECALLD_FLAG": ["`false`", "", "a switch"], "RECALLD_KEY": ["", "", "a secret"]}
    assert "s3cret" not in text


def test_secrets_show_no_default() -> None:
    secrets = [v.name for v in variables() if is_secret(v)]
    assert {"RECALLD_GRAPH_PASSWORD", "RECALLD_LLM_API_KEY", "RECALLD_EMBEDDING_API_KEY"} <= set(secrets)
    rows = _rows(render())
    assert all(rows[name][0] == "" for name in secrets)


def test_defaults_are_written_as_the_environment_would_set_them() -> None:
    """Every default shown, set as its variable, loads as that default; enums list their values."""
    rows = _rows(render())
    assert rows["RECALLD_GRAPH_TIMEOUT_S"][0] == "`300`" and rows["RECALLD_SEARCH_GRAPH_ALPHA"][0] == "`0.15`"
    assert rows["RECALLD_VECTOR_LITE_PROCESS"][0] == "`true`" and rows["RECALLD_LOG_LEVEL"][0] == "`INFO`"
    assert rows["RECALLD_VECTOR_URI"][0] == "" and rows["RECALLD_DATA_DIR"][0] == "`data`"
    assert rows["RECALLD_SEARCH_FUSION"][1] == "`weighted`, `rrf`"
    assert rows["RECALLD_VECTOR_INDEX"][1] == "`FLAT`, `HNSW`, `IVF_FLAT`, `AUTOINDEX`"
    assert rows["RECALLD_LISTEN"][1] == ""
    defaults = _values(Settings())
    for var in variables():
        shown = env_value(var.default)
        if is_secret(var) or not shown:
            continue
        assert rows[var.name][0] == f"`{shown}`"
        assert _values(load_settings({var.name: shown}))[var.name] == defaults[var.name], (var.name, shown)


def test_the_reference_does_not_depend_on_hash_order() -> None:
    """Sets and tables of the registry are rendered sorted: another process renders the same file."""
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    code = "import sys; from recalld.server.config_reference import render; sys.stdout.write(render())"
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert other.stdout == render()


def test_sections_claim_only_variables_that_exist() -> None:
    known = known_variables()
    for section in SECTIONS:
        assert all(name in known for name in section.names), section.title
        assert all(any(v.startswith(p) for v in known) for p in section.prefixes), section.title


def test_the_cli_prints_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config-reference"]) == 0
    assert capsys.readouterr().out == render()


def test_the_module_writes_the_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from recalld.server import config_reference

    target = tmp_path / "docs" / "configuration.md"
    monkeypatch.setattr(config_reference, "DOC_PATH", target)
    assert config_reference.main(["--write"]) == 0
    assert target.read_text(encoding="utf-8") == render()
