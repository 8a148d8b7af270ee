"""The docs hold together: every shell and Python block is run by a test or says why not, every
relative link and anchor resolves, and the README stays a front page (tests/docblocks.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docblocks import MARKER, ROOT, Block, all_blocks, doc_files, parse

README_MAX_LINES = 250
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CODE_SPAN = re.compile(r"(`+).*?\1")


def _prose(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of a Markdown file outside fenced blocks, code spans blanked."""
    out: list[tuple[int, str]] = []
    fence = ""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = _FENCE.match(line)
        if fence:
            closes = m and line.strip() == m.group(1) and m.group(1)[0] == fence[0]
            if closes and len(line.strip()) >= len(fence):
                fence = ""
            continue
        if m:
            fence = m.group(1)
            continue
        out.append((n, _CODE_SPAN.sub("", line)))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, code and link markup reduced to their text,
    punctuation removed (letters, digits, '_', '-' and spaces stay), spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The heading anchors of a Markdown file; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in _prose(path):
        m = _HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_slug_is_githubs() -> None:
    assert slug("Production backends: Neo4j (or FalkorDB) + a Milvus server") == (
        "production-backends-neo4j-or-falkordb--a-milvus-server"
    )
    assert slug("Tenants, credentials and erasure") == "tenants-credentials-and-erasure"
    assert slug("The `recalld` CLI") == "the-recalld-cli"


def test_the_parser_reads_markers_fences_and_languages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.docblocks.ROOT", tmp_path)
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- doc-test: one -->\n```sh\necho 1\n```\n\n"
        "- item\n\n  <!-- not-run: needs a cluster -->\n  ```Python title\n  print(2)\n  ```\n\n"
        "<!-- doc-test: a -->\n<!-- not-run: b c d -->\n````bash\n```\n````\n\n```\nplain\n```\n"
    )
    one, two, three, four = parse(page)
    assert (one.lang, one.kind, one.value, one.text, one.line) == ("sh", "doc-test", "one", "echo 1\n", 2)
    assert (two.lang, two.kind, two.value, two.text) == ("python", "not-run", "needs a cluster", "print(2)\n")
    assert three.lang == "bash" and three.kind is None and len(three.markers) == 2 and three.text == "```\n"
    assert four.lang == "" and not four.checked and four.markers == ()


def test_every_shell_and_python_block_has_exactly_one_marker() -> None:
    wrong = [f"{b}: {len(b.markers)} markers" for b in all_blocks() if b.checked and len(b.markers) != 1]
    assert wrong == [], "each needs <!-- doc-test: <id> --> or <!-- not-run: <reason> --> just above its fence"


def test_every_marker_is_just_above_a_block() -> None:
    stray = []
    for path in doc_files():
        lines = path.read_text().splitlines()
        used: set[int] = set()
        for b in parse(path):
            used.update(range(b.line - len(b.markers), b.line))  # the 1-based lines of its markers
        markers = {n for n, ln in enumerate(lines, 1) if MARKER.match(ln)}
        stray += [f"{path.relative_to(ROOT)}:{n}" for n in sorted(markers - used)]
    assert stray == []


def test_every_not_run_block_says_why() -> None:
    vague = [str(b) for b in all_blocks() if b.kind == "not-run" and len(b.value.split()) < 3]
    assert vague == [], "a not-run reason names what the block needs or which test covers it"


def _doc_tests() -> list[Block]:
    return [b for b in all_blocks() if b.kind == "doc-test"]


def test_doc_test_ids_are_unique_and_well_formed() -> None:
    ids = [b.value for b in _doc_tests()]
    assert [i for i in ids if not _ID.match(i)] == []
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


def test_every_doc_test_block_is_loaded_by_a_test() -> None:
    sources = [
        p.read_text()
        for p in (ROOT / "tests").rglob("*.py")
        if p.name not in {"test_docs.py", "docblocks.py"} and ".venv" not in p.parts
    ]
    unused = [
        f"{b}: {b.value}"
        for b in _doc_tests()
        if not any(re.search(rf"""\bblock\(\s*["']{re.escape(b.value)}["']\s*\)""", s) for s in sources)
    ]
    assert unused == [], "no test under tests/ calls block(<id>) for these"


def _links() -> list[tuple[Path, int, str]]:
    """(file, line, target) of every link outside code; a link's text may run over two lines."""
    out = []
    for path in doc_files():
        lines = dict(_prose(path))
        text = "\n".join(lines.get(n, "") for n in range(1, max(lines, default=0) + 1))
        out += [(path, text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _LINK.finditer(text)]
    return out


def test_the_docs_have_links_to_check() -> None:
    assert len(_links()) > 20


def test_every_relative_link_resolves() -> None:
    broken = []
    for path, n, target in _links():
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        name, _, anchor = target.partition("#")
        dest = (path.parent / name).resolve() if name else path
        where = f"{path.relative_to(ROOT)}:{n}: {target}"
        if not dest.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{where} (no such heading)")
    assert broken == []


def test_the_readme_is_a_front_page() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES
    assert lines[0] == "# recalld"
    first = next(b for b in parse(ROOT / "README.md"))
    assert first.text.startswith("make run ") and "\nmake test " in first.text


def test_the_readme_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text()
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} | {"configuration.md"}
    assert sorted(p for p in pages if f"](docs/{p})" not in readme) == []
