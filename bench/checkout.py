"""What the replay benchmarks (bench.walks, bench.vector_search) share with bench.busy: the newest
seeded LoCoMo scopes, another checkout's sources first on the path, whether this tree has
uncommitted changes, and the report's tail."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"


def newest_seed() -> Path:
    """The data directory of the newest complete bench.busy embedded seed (12 LoCoMo scopes)."""
    done = sorted(WORK.glob("busy-seed-*/done"), key=lambda p: p.stat().st_mtime)
    if not done:
        raise SystemExit("no seeded LoCoMo scopes under bench/.work/busy-seed-*: run bench.busy once first")
    return done[-1].parent / "data"


def sources_path(code: Path) -> str:
    """A PYTHONPATH that puts another checkout's sources first."""
    return os.pathsep.join(str(code / r) for r in ("services", "graph", "vector", "client"))


def uncommitted(*paths: str) -> str:
    """A note for a report when this tree differs from its commit under ``paths``."""
    changed = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=ROOT, capture_output=True)
    return f" (with uncommitted changes to {' or '.join(p + '/' for p in paths)})" if changed.stdout.strip() else ""


def write_report(lines: Sequence[str], out: Path, *, failed: bool) -> None:
    """Write and print the report; exit 1 when the comparison it reports failed."""
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if failed:
        raise SystemExit(1)
