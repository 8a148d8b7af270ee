"""The shell blocks of the README's walkthrough and of docs/concepts.md "Memory that stays true",
run as written against one real server (embedded stores), each command through bash with the CLI
at .venv/bin/recalld. Placeholders (`<id>`, `<berlin id>`) get ids the commands before printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docblocks import Shell, block, cli_shim, commands
from tests.harness import ServerProcess

pytestmark = pytest.mark.e2e

_EVENT = re.compile(r"^(ADD|NOOP|UPDATE|INVALIDATE)\s+(\S+)\s+(.*)$", re.MULTILINE)


def run_block(sh: Shell, text: str, fill: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(command, stdout) of each command of a shell block, placeholders filled; every one succeeds."""
    ran = []
    for command in commands(text):
        for placeholder, value in (fill or {}).items():
            command = command.replace(placeholder, value)
        out = sh.run(command)
        assert out.returncode == 0, f"{command}\n{out.stdout}{out.stderr}"
        ran.append((command, out.stdout))
    return ran


def memory_id(output: str, text: str) -> str:
    """The id of the memory an Add printed with this text."""
    ids = [m.group(2) for m in _EVENT.finditer(output) if text in m.group(3)]
    assert len(ids) == 1, output
    return ids[0]


def test_the_walkthrough_and_the_truth_example_run_as_written(tmp_path: Path) -> None:
    cli_shim(tmp_path)
    with ServerProcess(tmp_path / "data") as server:
        sh = Shell(tmp_path, {"RECALLD_ADDRESS": server.address})

        # README "Walkthrough": the block defines R itself.
        ran = run_block(sh, block("walkthrough"))
        assert [c.split()[1] if c.startswith("$R") else c for c, _ in ran] == [
            "R=.venv/bin/recalld",
            "add",
            "add",
            "search",
        ]
        found = ran[3][1]
        first = found.splitlines()[0]
        assert "My cat Luna caught a cold last week." in first and "vector+graph" in first, found
        assert "path: alice -has_pet-> Luna -catch-> cold" in found
        algebra = memory_id(ran[2][1], "linear algebra")

        more = run_block(sh, block("walkthrough-more"), {"<id>": algebra})
        out = {c.split("#")[0].strip(): o for c, o in more}
        assert '"hits"' in out['$R search --user alice "allergy" --mode vector --json']
        assert "latex" in out['$R search --user alice "allergies" --filter source=intake']
        assert "alice -has_pet-> Luna -catch-> cold" in out["$R graph --user alice alice --to cold"]
        assert "UPDATE" in out[f"$R history --user alice {algebra}"]
        assert out["$R verify"].startswith("consistent:"), out["$R verify"]

        # docs/concepts.md "Memory that stays true": $R comes from the walkthrough.
        sh.env["R"] = ".venv/bin/recalld"
        added = run_block(sh, block("truth-add"))
        assert "INVALIDATE" in added[1][1] and "I live in Berlin." in added[1][1], added[1][1]
        assert "[single_valued:lives_in]" in added[1][1]
        berlin = memory_id(added[0][1], "I live in Berlin.")
        searched = [o for _, o in run_block(sh, block("truth-search"), {"<berlin id>": berlin})]
        now, then, both, listed, history = searched
        assert "Paris" in now.splitlines()[0] and "Berlin" not in now, now
        assert "I live in Berlin." in then.splitlines()[0], then
        assert "Berlin" in both and "retired: single_valued:lives_in" in both, both
        assert "Berlin" in listed and "Paris" in listed
        assert history.index("ADD") < history.index("INVALIDATE"), history
