"""Generated code is produced by one command (client/protogen.py) and never stale."""

from __future__ import annotations

from pathlib import Path

from tests.harness import load_script

ROOT = Path(__file__).resolve().parents[2]


def _protogen():  # type: ignore[no-untyped-def]
    return load_script(ROOT / "client" / "protogen.py", "protogen")


def test_generated_code_matches_proto_sources() -> None:
    args = ["--proto", str(ROOT / "proto"), "--out", str(ROOT / "client" / "recalld" / "v1"), "--check"]
    assert _protogen().main(args) == 0, "client/recalld/v1 is stale: run `make proto`"


def test_the_server_uses_the_clients_generated_code() -> None:
    import recalld.v1.memory_pb2 as generated

    assert Path(generated.__file__).resolve().parent == ROOT / "client" / "recalld" / "v1"
    stray = [p for p in (ROOT / "services").rglob("*_pb2*.py")]
    assert stray == [], "generated code lives only in client/recalld/v1"
