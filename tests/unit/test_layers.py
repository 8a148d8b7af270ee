"""Imports flow one way, and the server distribution installs nothing generic at top level.

Layers, bottom to top (a module may import its own layer and the layers below it):

    client     recalld.v1 (generated), recalld.client        imports nothing of the server
    kernel     recalld.kernel                               imports only recalld.kernel
    backends   recalld.graph, recalld.vector, recalld.extraction, recalld.llm   kernel only; never each other
    core       recalld.core                                 kernel only (stores through the ports)
    edge       recalld.server                               anything
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = [ROOT / d for d in ("services", "graph", "vector", "client")]

# package -> packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "recalld.v1": set(),
    "recalld.client": {"recalld.v1"},
    "recalld.kernel": set(),
    "recalld.graph": {"recalld.kernel"},
    "recalld.vector": {"recalld.kernel"},
    "recalld.extraction": {"recalld.kernel"},
    "recalld.llm": {"recalld.kernel"},
    "recalld.core": {"recalld.kernel"},
    "recalld.server": {
        "recalld.kernel", "recalld.core", "recalld.graph", "recalld.vector", "recalld.extraction", "recalld.llm",
        "recalld.v1", "recalld.client",
    },
}  # fmt: skip


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in SOURCE_ROOTS:
        for path in (root / "recalld").rglob("*.py"):
            rel = path.relative_to(root).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                out.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                out.add(node.module)
    return {m for m in out if m == "recalld" or m.startswith("recalld.")}


def import_graph() -> dict[str, set[str]]:
    """package -> recalld packages its modules import."""
    graph: dict[str, set[str]] = {}
    for module, path in _modules().items():
        pkg = _package(module)
        graph.setdefault(pkg, set()).update(_package(m) for m in _imports(path, module) if _package(m) != pkg)
    return graph


def test_every_package_has_a_layer() -> None:
    assert set(import_graph()) == set(ALLOWED)


def test_imports_flow_one_way() -> None:
    wrong = {pkg: sorted(deps - ALLOWED[pkg]) for pkg, deps in import_graph().items() if deps - ALLOWED[pkg]}
    assert wrong == {}, f"imports against the layering: {wrong}"


def test_the_rule_catches_a_wrong_way_import(tmp_path: Path) -> None:
    bad = tmp_path / "memory.py"
    bad.write_text("from recalld.graph.embedded import EmbeddedGraphStore\nfrom . import fusion\n")
    deps = {_package(m) for m in _imports(bad, "recalld.core.memory")}
    assert deps == {"recalld.graph", "recalld.core"}  # relative imports resolve to their package
    assert deps - ALLOWED["recalld.core"] - {"recalld.core"} == {"recalld.graph"}


def test_no_generic_names_at_the_top_of_the_repository_packages() -> None:
    for root in SOURCE_ROOTS:
        tops = {p.name for p in root.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
        assert tops <= {"protogen.py"}, f"{root.name}/ holds importable top-level code: {tops}"
        assert not (root / "recalld" / "__init__.py").exists(), "recalld is a namespace shared by two distributions"


@pytest.mark.slow
def test_the_server_wheel_installs_only_the_recalld_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("recalld-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"recalld"}, tops
    assert not any(n.startswith("recalld/v1/") or n == "recalld/__init__.py" for n in names)
    assert "recalld/vector/assets/all-MiniLM-L6-v2/tokenizer.json" in names


_MACHINE_PATHS = tuple('"/' + d + "/" for d in ("work", "root", "home"))  # built, so this file does not match


def test_no_absolute_path_of_one_machine_in_code() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.py", "Makefile", "*.toml"], cwd=ROOT, capture_output=True, text=True
    )
    offenders = [
        name
        for name in tracked.stdout.split()
        if (ROOT / name).exists() and any(p in (ROOT / name).read_text() for p in _MACHINE_PATHS)
    ]
    assert offenders == []
