"""The fenced code blocks of README.md and docs/*.md, found by the id of their marker.

Every block tagged sh, bash, shell, console, python or py carries, on the line just before its
opening fence, exactly one marker:

    <!-- doc-test: <id> -->      a test runs it; ``block("<id>")`` gives the test its text
    <!-- not-run: <reason> -->   why no test runs it

so the code a test runs is the code the docs show, not a copy. ``tests/unit/test_docs.py``
checks the markers; ``Shell`` runs a shell block's commands one at a time, as a reader would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED_LANGS = frozenset({"sh", "bash", "shell", "console", "python", "py"})
MARKER = re.compile(r"^\s*<!--\s*(doc-test|not-run):(.*?)-->\s*$")
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_ASSIGNMENT = re.compile(r"""^(export\s+)?[A-Za-z_][A-Za-z0-9_]*=("[^"]*"|'[^']*'|\S*)\s*(#.*)?$""")


@dataclass(frozen=True)
class Block:
    file: Path  # relative to the repository root
    line: int  # 1-based line of the opening fence
    lang: str  # the info string's first word, lower case; "" when the fence has none
    text: str  # the lines between the fences, the fence's indentation removed
    markers: tuple[tuple[str, str], ...]  # (kind, value) of the marker lines just above the fence

    @property
    def checked(self) -> bool:
        """A shell or Python block: it needs a marker."""
        return self.lang in CHECKED_LANGS

    @property
    def kind(self) -> str | None:
        """'doc-test' or 'not-run' when the block has exactly one marker."""
        return self.markers[0][0] if len(self.markers) == 1 else None

    @property
    def value(self) -> str:
        """The doc-test id or the not-run reason of the one marker."""
        return self.markers[0][1] if len(self.markers) == 1 else ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line} ({self.lang or 'no language'})"


def doc_files() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def parse(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file, with the markers just above each."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        end = i + 1
        closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = [ln[len(indent) :] if ln.startswith(indent) else ln.lstrip() for ln in lines[i + 1 : end]]
        markers: list[tuple[str, str]] = []
        j = i - 1
        while j >= 0 and (mk := MARKER.match(lines[j])):
            markers.insert(0, (mk.group(1), mk.group(2).strip()))
            j -= 1
        info = m.group("info").strip().split()
        blocks.append(
            Block(
                file=path.relative_to(ROOT),
                line=i + 1,
                lang=info[0].lower() if info else "",
                text="\n".join(body) + "\n" if body else "",
                markers=tuple(markers),
            )
        )
        i = end + 1
    return blocks


def all_blocks() -> list[Block]:
    """Every fenced block of README.md and docs/*.md."""
    return [b for path in doc_files() for b in parse(path)]


def block(doc_test_id: str) -> str:
    """The text of the one block marked ``<!-- doc-test: doc_test_id -->``."""
    found = [b for b in all_blocks() if b.kind == "doc-test" and b.value == doc_test_id]
    if len(found) != 1:
        raise LookupError(f"{len(found)} blocks marked doc-test: {doc_test_id} in README.md and docs/")
    return found[0].text


def commands(text: str) -> list[str]:
    """A shell block's commands in order: one per line (a line ending in a backslash continues
    on the next), blank lines and comment lines left out."""
    out: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending.rstrip())
    return out


def cli_shim(directory: Path) -> Path:
    """``directory/.venv/bin/recalld`` running this interpreter's ``recalld`` CLI, so that blocks
    saying ``R=.venv/bin/recalld`` run with ``directory`` as their working directory."""
    shim = directory / ".venv" / "bin" / "recalld"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m recalld.server.cli "$@"\n')
    shim.chmod(0o755)
    return shim


class Shell:
    """Runs a shell block's commands one at a time with bash, each output kept apart. Variable
    assignments (``R=.venv/bin/recalld``) carry over to the commands after them, as in one
    terminal."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120.0) -> None:
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        self.timeout = timeout
        self.assignments: list[str] = []

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        if _ASSIGNMENT.match(command):
            self.assignments.append(command)
        script = "\n".join([*self.assignments, command])
        return subprocess.run(
            ["bash", "-c", script], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=self.timeout
        )
