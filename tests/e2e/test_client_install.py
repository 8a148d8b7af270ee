"""The client distribution installs alone, and the Python examples of docs/api.md (the client, bulk
import) run with it against a real server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.docblocks import block
from tests.harness import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_client_installs_alone_and_the_docs_examples_run(tmp_path: Path, server: ServerProcess) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", str(ROOT / "client")], check=True, timeout=600)
    listed = subprocess.run([py, "-m", "pip", "list", "--format=json"], check=True, capture_output=True, text=True)
    installed = {_norm(p["name"]) for p in json.loads(listed.stdout)} - {"pip", "setuptools", "wheel"}
    # The client's two dependencies, and whatever those two require themselves (grpcio: typing-extensions).
    requires = (
        "import importlib.metadata as m, json; "
        "print(json.dumps([r for d in ('grpcio', 'protobuf') for r in m.requires(d) or []]))"
    )
    theirs = subprocess.run([py, "-c", requires], check=True, capture_output=True, text=True).stdout
    transitive = {_norm(re.split(r"[ ;<>=!~\[]", r, maxsplit=1)[0]) for r in json.loads(theirs) if "extra ==" not in r}
    assert installed == {"recalld-client", "grpcio", "protobuf"} | transitive, installed
    # Nothing of the server came along: the namespace holds only the client and the generated code.
    probe = "import recalld, pkgutil; print(sorted(m.name for m in pkgutil.iter_modules(recalld.__path__)))"
    out = subprocess.run([py, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "['client', 'v1']"

    script = block("client-example").replace("127.0.0.1:50051", server.address).replace('"alice"', '"readme-user"')
    run = subprocess.run([py, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "My cat Luna caught a cold last week." in run.stdout.splitlines()[0]
    assert "readme-user -has_pet-> Luna -catch-> cold" in run.stdout

    # The bulk-import example, with the names it takes from its reader: Recalld and the lines.
    lines = ["I play the cello.", "I live in Lyon.", "My sister is called Ines."]
    given = f"from recalld.client import Recalld\nlines = {lines!r}\n"
    example = block("import-example").replace("127.0.0.1:50051", server.address).replace('"alice"', '"import-user"')
    run = subprocess.run(
        [py, "-c", given + example + "print(done)"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "3", run.stdout  # progress: items sent
    assert "received=3" in run.stdout and "imported=3" in run.stdout, run.stdout
    assert sys.executable != str(py)
