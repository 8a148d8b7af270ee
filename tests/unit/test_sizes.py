"""The house rules for product code (services/, graph/, vector/ and the client package; generated
code excluded): no module over 600 lines, no function over 80. A module that outgrows them is
split by meaning (what it holds), not by size."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [ROOT / "services/recalld", ROOT / "graph/recalld", ROOT / "vector/recalld", ROOT / "client/recalld/client"]
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(p for root in PRODUCT for p in root.rglob("*.py") if "_pb2" not in p.name)


def test_the_product_code_is_where_the_rule_looks() -> None:
    assert len(_modules()) > 50


def test_no_module_is_over_600_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, "split these by meaning"


def test_no_function_is_over_80_lines() -> None:
    long: dict[str, int] = {}
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{p.relative_to(ROOT)}:{node.lineno} {node.name}"] = n
    assert long == {}, "split these into named steps"
