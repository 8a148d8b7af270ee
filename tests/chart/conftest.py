"""The real helm binary (``make helm`` puts it in .venv/bin; $HELM overrides), rendering the chart
helm/recalld into parsed manifests. A missing helm fails the tests: it is never a skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "recalld"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))


def find_helm() -> str | None:
    explicit = os.environ.get("HELM")
    if explicit:
        return explicit if Path(explicit).is_file() else shutil.which(explicit)
    local = Path(sys.prefix) / "bin" / "helm"  # the venv's, installed by `make helm`
    if local.is_file():
        return str(local)
    local = ROOT / ".venv" / "bin" / "helm"
    return str(local) if local.is_file() else None


class RenderError(AssertionError):
    pass


@dataclass
class Helm:
    binary: str
    home: Path
    _cache: dict[tuple[str, ...], str] = field(default_factory=dict)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        proc = subprocess.run([self.binary, *args], capture_output=True, text=True, env=env, timeout=60, check=False)
        if check and proc.returncode != 0:
            raise RenderError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
        return proc

    @staticmethod
    def value_args(values: Sequence[Path | str] = (), sets: Sequence[str] = ()) -> list[str]:
        args: list[str] = []
        for v in values:
            args += ["--values", str(v)]
        for s in sets:
            args += ["--set", s]
        return args

    def template_text(self, values: Sequence[Path | str] = (), sets: Sequence[str] = (), *extra: str) -> str:
        key = (*map(str, values), "--", *sets, "--", *extra)
        if key not in self._cache:
            args = ["template", "r", str(CHART), "--namespace", "mem", *self.value_args(values, sets), *extra]
            self._cache[key] = self.run(*args).stdout
        return self._cache[key]

    def render(self, values: Sequence[Path | str] = (), sets: Sequence[str] = (), *extra: str) -> list[dict[str, Any]]:
        return [d for d in yaml.safe_load_all(self.template_text(values, sets, *extra)) if d]

    def render_error(self, values: Sequence[Path | str] = (), sets: Sequence[str] = (), *extra: str) -> str:
        """The error output of a render that must fail."""
        args = ["template", "r", str(CHART), *self.value_args(values, sets), *extra]
        proc = self.run(*args, check=False)
        assert proc.returncode != 0, f"helm {' '.join(args)} rendered but should have failed:\n{proc.stdout}"
        return proc.stderr


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    binary = find_helm()
    if binary is None:
        pytest.fail("no helm binary: run `make helm` (installs .venv/bin/helm), or point $HELM at one")
    return Helm(binary, tmp_path_factory.mktemp("helm-home"))
