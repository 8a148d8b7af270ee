"""Persistence across restarts (graceful and SIGKILL) and the CLI walkthrough."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recalld.v1 import admin_pb2, common_pb2, graph_pb2, memory_pb2
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
    """The README's "Living memory" walkthrough through the CLI: two agents, a profile, an
    asynchronous Add, a grant used and revoked."""
    with ServerProcess(tmp_path / "data") as server:
        a = server.address
        for agent, text in (
            ("medic", "I'm allergic to penicillin."),
            ("coach", "I recently started running 5 km every morning."),
        ):
            out = recalld(a, "add", "--user", "pat", "--agent", agent, text)
            assert out.returncode == 0, out.stderr
        out = recalld(a, "add", "--user", "pat", "--async", "I am vegetarian.")
        assert out.returncode == 0 and "queued as operation" in out.stdout, out.stderr
        op = out.stdout.split()[3]
        out = recalld(a, "operation", op, "--wait")
        assert f"{op}  succeeded  1 results" in out.stdout, out.stdout + out.stderr
        out = recalld(a, "profile", "--user", "pat")
        lines = out.stdout.splitlines()
        assert any("allergies = penicillin" in ln for ln in lines), out.stdout
        assert any("diet = vegetarian" in ln for ln in lines)
        assert any("exercise_routine = run 5 km every morning" in ln for ln in lines)
        levels = ["--level", "user", "--level", "agent", "--level", "shared"]
        ask = ["search", "--user", "pat", "--agent", "coach", "what is Pat allergic to?", *levels]
        assert "penicillin" not in recalld(a, *ask).stdout
        out = recalld(a, "grant", "pat", "medic", "coach")
        assert out.returncode == 0 and "granted: coach reads medic's memories of pat" in out.stdout
        out = recalld(a, *ask)
        assert "shared] I'm allergic to penicillin." in out.stdout, out.stdout
        assert recalld(a, "grant", "pat", "medic", "coach", "--revoke").returncode == 0
        assert "penicillin" not in recalld(a, *ask).stdout
        out = recalld(a, "grants", "pat", "--all")
        assert "medic -> coach" in out.stdout and "revoked" in out.stdout
