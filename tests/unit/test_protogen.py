"""Generated code is produced by one command and never stale."""

from services import protogen


def test_generated_code_matches_proto_sources() -> None:
    assert protogen.main(["--check"]) == 0, "services/pb is stale: run `make proto`"


def test_generated_modules_import_relative_to_their_package() -> None:
    for path in protogen.OUT_DIR.glob("*.py"):
        assert "from recalld.v1" not in path.read_text(), path.name
