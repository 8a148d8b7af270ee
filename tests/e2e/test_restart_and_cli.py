"""Persistence across restarts (graceful and SIGKILL) and the CLI walkthrough."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recalld.v1 import admin_pb2, common_pb2, graph_pb2, memory_pb2
from tests.docblocks import Shell, block, cli_shim, commands
from tests.e2e.conftest import SEED, Client
from tests.harness import ServerProcess

pytestmark = pytest.mark.e2e


def snapshot(c: Client, user: str) -> tuple[list[tuple[str, str]], set[tuple[str, str, str, str]]]:
    s = common_pb2.Scope(user_id=user)
    memories = c.memory.List(memory_pb2.ListRequest(scope=s, page_size=1000)).memories
    sub = c.graph.Subgraph(graph_pb2.SubgraphRequest(scope=s, entity=user, depth=3, limit=1000))
    return (
        sorted((m.id, m.text) for m in memories),
        {(e.subject, e.predicate, e.object, e.memory_id) for e in sub.edges},
    )


def test_restart_keeps_memories_and_graph(tmp_path: Path, fresh_backends: dict[str, str]) -> None:
    server = ServerProcess(tmp_path / "data", env=fresh_backends)
    with server:
        c = Client(server.address)
        c.memory.Add(
            memory_pb2.AddRequest(
                scope=common_pb2.Scope(user_id="alice"),
                messages=[memory_pb2.Message(role="user", content=t) for t in SEED],
            )
        )
        before = snapshot(c, "alice")
        c.channel.close()
    assert server.proc is not None and server.proc.returncode == 0, server.log()[-2000:]
    assert len(before[0]) == 4 and len(before[1]) >= 5

    with ServerProcess(tmp_path / "data", env=fresh_backends) as again:
        c = Client(again.address)
        assert snapshot(c, "alice") == before
        hits = c.memory.Search(
            memory_pb2.SearchRequest(scope=common_pb2.Scope(user_id="alice"), query="how is my pet's health?")
        ).hits
        assert hits[0].memory.text == SEED[0]
        assert c.admin.Verify(admin_pb2.VerifyRequest()).consistent
        c.channel.close()


def recalld(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recalld.server.cli", *args],
        env={**os.environ, "RECALLD_ADDRESS": address},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_walkthrough(tmp_path: Path, fresh_backends: dict[str, str]) -> None:
    with ServerProcess(tmp_path / "data", env=fresh_backends) as server:
        a = server.address
        out = recalld(a, "add", "--user", "alice", *SEED)
        assert out.returncode == 0, out.stderr
        assert "(alice, has_pet, Luna)" in out.stdout
        out = recalld(a, "search", "--user", "alice", "how is my pet's health?")
        assert out.returncode == 0, out.stderr
        first = out.stdout.splitlines()[0]
        assert "My cat Luna caught a cold last week." in first and "vector+graph" in first
        assert "path: alice -has_pet-> Luna -catch-> cold" in out.stdout
        out = recalld(a, "search", "--user", "alice", "penicillin", "--json", "-n", "1")
        hit = json.loads(out.stdout)["hits"][0]
        mid = hit["memory"]["id"]
        assert hit["memory"]["text"] == "I'm allergic to penicillin."
        out = recalld(a, "graph", "--user", "alice", "alice", "--to", "cold")
        assert "alice -has_pet-> Luna -catch-> cold" in out.stdout
        out = recalld(a, "history", "--user", "alice", mid)
        assert "ADD" in out.stdout
        out = recalld(a, "list", "--user", "alice")
        assert out.stdout.count("\n  at ") == 4
        out = recalld(a, "get", "--user", "bob", mid)
        assert out.returncode == 1 and "NOT_FOUND" in out.stderr
        out = recalld(a, "search", "penicillin")
        assert out.returncode == 2 and "scope" in out.stderr
        out = recalld(a, "delete", "--user", "alice", mid)
        assert out.returncode == 0
        out = recalld(a, "verify")
        assert out.stdout.startswith("consistent: 3 memories, 3 vectors")


def test_cli_living_memory_walkthrough(tmp_path: Path) -> None:
    """The command-line block of docs/concepts.md "Living memory", run as written: two agents, a
    profile, an asynchronous Add, a grant used and revoked."""
    cli_shim(tmp_path)
    with ServerProcess(tmp_path / "data") as server:
        sh = Shell(tmp_path, {"RECALLD_ADDRESS": server.address, "R": ".venv/bin/recalld"})
        ran: list[tuple[str, str]] = []
        op = ""
        for command in commands(block("living-memory-cli")):
            command = command.replace("<operation id>", op)
            out = sh.run(command)
            assert out.returncode == 0, f"{command}\n{out.stdout}{out.stderr}"
            ran.append((command, out.stdout))
            if "--async" in command:
                assert "queued as operation" in out.stdout, out.stdout
                op = out.stdout.split()[3]
        assert len(ran) == 10, "the block's commands changed: update the checks below"
        outputs = [stdout for _, stdout in ran]
        assert f"{op}  succeeded  1 results" in outputs[3], outputs[3]
        lines = outputs[4].splitlines()
        assert any("allergies = penicillin" in ln for ln in lines), outputs[4]
        assert any("diet = vegetarian" in ln for ln in lines)
        assert any("exercise_routine = run 5 km every morning" in ln for ln in lines)
        assert "penicillin" not in outputs[5]  # nothing private without a grant
        assert "granted: coach reads medic's memories of pat" in outputs[6]
        assert "shared] I'm allergic to penicillin." in outputs[7], outputs[7]
        assert "medic -> coach" in outputs[9] and "revoked" in outputs[9]
        again = sh.run(ran[5][0])  # the block's Search once more: the revocation applies at once
        assert again.returncode == 0 and "penicillin" not in again.stdout, again.stdout + again.stderr
