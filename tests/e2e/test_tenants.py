"""Tenants, credentials and erasure on a real server: what an operator and a hospital's auditor
check. (The attack matrix is in test_attacks.py, the load in test_tenant_load.py.)"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest

from recalld.client import PermissionDenied, Recalld, ResourceExhausted, Unauthenticated
from recalld.v1 import admin_pb2, admin_pb2_grpc, common_pb2
from tests.conftest import BACKENDS, backend_env
from tests.e2e.secure import SecureServer
from tests.harness import ServerProcess


def _seed(c: Recalld, user: str, marker: str) -> list[str]:
    """Memories of ``user`` at every level, with a correction (history), a deletion (tombstone),
    an asynchronous Add and a grant. Returns the memory ids."""
    ids = [e.memory.id for e in c.add(f"My cat {marker} caught a cold.", user_id=user).events]
    ids += [e.memory.id for e in c.add(f"I'm allergic to {marker}cillin.", user_id=user, agent_id="medic").events]
    ids += [e.memory.id for e in c.add(f"I study {marker} algebra.", user_id=user, run_id="s1").events]
    c.update(ids[0], f"My cat {marker} has recovered from a cold.", user_id=user)
    c.delete(ids[-1], user_id=user)
    op = c.add(f"I run with {marker} every morning.", user_id=user, agent_id="coach", mode="async")
    (done,) = c.wait_operations([op.operation_id], timeout=60)
    ids += [r.memory_id for r in done.results]
    c.grant_access(user, owner_agent="medic", grantee_agent="coach")
    return ids


def _everything_in(db: Path) -> str:
    """Every value of every row of every table of a SQLite file, as one string."""
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(repr(row) for t in tables for row in con.execute(f'SELECT * FROM "{t}"'))
    finally:
        con.close()


def _everything_in_falkordb(url: str, graph: str) -> str:
    from falkordb import FalkorDB

    g = FalkorDB.from_url(url).select_graph(graph)
    nodes = g.query("MATCH (n) RETURN properties(n)").result_set
    rels = g.query("MATCH ()-[r]->() RETURN properties(r)").result_set
    return "\n".join(json.dumps(r[0], default=str) for r in [*nodes, *rels])


def _everything_in_milvus(uri: str, collection: str) -> str:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri)
    try:
        client.load_collection(collection)
        rows = client.query(collection, filter='id != ""', output_fields=["*"], limit=16384, consistency_level="Strong")
    finally:
        client.close()
    return "\n".join(json.dumps({k: v for k, v in r.items() if k != "vector"}, default=str) for r in rows)


@pytest.mark.parametrize("backend", BACKENDS)
def test_erase_leaves_nothing_of_the_user_in_any_store(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    env = backend_env(request, backend)
    user, other = f"patient-{uuid.uuid4().hex[:8]}", f"patient-{uuid.uuid4().hex[:8]}"
    marker, kept = "Zorblax", "Quintor"
    tenant = "clinic-1"
    s = SecureServer(tmp_path, env=env)
    with s, s.client(s.key(tenant, "admin")) as c:
        erased_ids = _seed(c, user, marker)
        kept_ids = _seed(c, other, kept)
        receipt = c.erase(user_id=user)
        # the receipt counts what the seed made: 4 memories (one deleted), the correction and
        # deletion in history, 4 episodes, the async Add's operation, the grant, 3 vectors
        assert (receipt.memories, receipt.episodes, receipt.operations, receipt.grants) == (4, 4, 1, 1)
        assert receipt.vectors == 3 and receipt.history_entries >= 6 and receipt.relations >= 4
        assert receipt.user_id == user and receipt.completed_at is not None
        assert [m for m in c.iterate(user_id=user)] == []
        assert c.search(f"{marker} cat", user_id=user) == []
        assert {m.id for m in c.iterate(user_id=other)} >= set(kept_ids[:2])
        report = c.verify()
        assert report.consistent and report.memories == report.vectors
    # The stores, read directly with the server stopped: nothing names the user or what they said.
    if backend == "embedded":
        tenant_dir = tmp_path / "data" / "tenants" / tenant
        graph_dump = _everything_in(tenant_dir / "graph.db")
        vector_dump = _everything_in_milvus(str(tenant_dir / "milvus.db"), "recalld_memories")
    else:
        graph_dump = _everything_in_falkordb(env["RECALLD_GRAPH_URI"], f"{env['RECALLD_GRAPH_DATABASE']}__{tenant}")
        collection = f"{env['RECALLD_VECTOR_COLLECTION']}__{tenant.replace('-', '_')}"
        vector_dump = _everything_in_milvus(env["RECALLD_VECTOR_URI"], collection)
    for dump in (graph_dump, vector_dump):
        assert user not in dump and marker not in dump and marker.lower() not in dump
        assert other in dump  # the other patient is all there
    assert kept in graph_dump  # (the vector index keeps no text)
    for mid in erased_ids:
        assert mid not in graph_dump and mid not in vector_dump


def test_an_erasure_cut_by_a_crash_completes_at_start_up(tmp_path: Path) -> None:
    s = SecureServer(tmp_path)
    user = "patient-crash"
    with s:
        token = s.key("clinic-2", "admin")
        with s.client(token) as c:
            for i in range(0, 200, 50):
                c.add([f"Visit {j}: {user} saw doctor {j}." for j in range(i, i + 50)], user_id=user, infer=False)
        db = tmp_path / "data" / "tenants" / "clinic-2" / "graph.db"

        def erase() -> None:
            with grpc.insecure_channel(s.address) as ch, pytest.raises(grpc.RpcError):  # the server dies under it
                admin_pb2_grpc.AdminServiceStub(ch).Erase(
                    admin_pb2.EraseRequest(scope=common_pb2.Scope(user_id=user)),
                    metadata=(("authorization", f"Bearer {token}"),),
                    timeout=30,
                )

        t = threading.Thread(target=erase)
        t.start()
        deadline = time.monotonic() + 20
        con = sqlite3.connect(db, timeout=5)
        while time.monotonic() < deadline:
            if con.execute("SELECT count(*) FROM erasures").fetchone()[0]:
                break
            time.sleep(0.001)
        s.server.kill()  # SIGKILL as soon as the erasure is recorded
        t.join(30)
        mid_way = con.execute("SELECT completed_at FROM erasures").fetchone()
        con.close()
        assert mid_way is not None and mid_way[0] is None  # recorded, not completed: cut in the middle

        s.server.start()  # resumes it before serving
        assert "1 erasures resumed" in s.server.log()
        with s.client(token) as c:
            assert list(c.iterate(user_id=user)) == []
            report = c.verify()
            assert report.consistent and report.memories == report.vectors == 0
    con = sqlite3.connect(db)
    (counts, completed, who) = con.execute("SELECT counts, completed_at, user_id FROM erasures").fetchone()
    con.close()
    assert completed is not None and json.loads(counts)["memories"] == 200 and who.startswith("sha256:")


def test_keys_are_shown_once_revocable_and_scoped(tmp_path: Path) -> None:
    with SecureServer(tmp_path) as s:
        admin = s.key("school-1", "admin")
        with s.client(admin) as c:
            key, token = c.create_api_key("tutor-app", role="write", user_ids=["kid-1"])
            assert token.startswith(f"rk_{key.id}_") and key.tenant == "school-1"
            listed = {k.id: k for k in c.list_api_keys()}
            assert listed[key.id].user_ids == ("kid-1",) and listed[key.id].role == "write"
        with s.client(token) as tutor:
            tutor.add("I find fractions hard.", user_id="kid-1")
            with pytest.raises(PermissionDenied, match="user 'kid-2'"):
                tutor.add("I find fractions hard.", user_id="kid-2")
            with pytest.raises(PermissionDenied, match="write role; Erase needs admin"):
                tutor.erase(user_id="kid-1")
            with pytest.raises(PermissionDenied):
                tutor.create_api_key("sneaky", role="admin")
        with s.client(admin) as c:
            c.revoke_api_key(key.id)
            assert key.id not in {k.id for k in c.list_api_keys()}
            assert {k.id for k in c.list_api_keys(include_revoked=True)} >= {key.id}
        with s.client(token) as tutor, pytest.raises(Unauthenticated, match="revoked"):
            tutor.search("fractions", user_id="kid-1")
        with s.client() as anonymous, pytest.raises(Unauthenticated, match="no credential"):
            anonymous.search("fractions", user_id="kid-1")
        # the token is stored nowhere: only its hash
        assert token.split("_", 2)[2] not in _everything_in(tmp_path / "data" / "graph.db")


def test_quota_and_rate_limits_name_the_limit(tmp_path: Path) -> None:
    env = {"RECALLD_LIMITS_MAX_MEMORIES_PER_USER": "3", "RECALLD_TENANT_RATES": "busy=2"}
    with SecureServer(tmp_path, env=env) as s:
        with s.client(s.key("calm", "write")) as c:
            c.add(["I like tea.", "I like chess.", "I like rain."], user_id="u1", infer=False)
            with pytest.raises(ResourceExhausted, match="max_memories_per_user=3"):
                c.add("I like snow.", user_id="u1", infer=False)
            c.add("I like snow.", user_id="u2", infer=False)  # per user
        busy = s.key("busy", "admin")
        with grpc.insecure_channel(s.address) as ch:
            stub = admin_pb2_grpc.AdminServiceStub(ch)
            refused: list[Any] = []
            for _ in range(6):
                try:
                    stub.Verify(admin_pb2.VerifyRequest(), metadata=(("authorization", f"Bearer {busy}"),))
                except grpc.RpcError as exc:
                    refused.append(exc)
            limited = [e for e in refused if e.code() is grpc.StatusCode.RESOURCE_EXHAUSTED]
            assert limited, [e.code() for e in refused]
            assert "rate limit of tenant 'busy' reached (2 requests/s" in limited[0].details()
            assert "retry after" in limited[0].details()
            assert int(dict(limited[0].trailing_metadata())["retry-after-ms"]) > 0


def test_audit_log_says_who_did_what_and_never_what_was_said(tmp_path: Path) -> None:
    secret = "Xylophonic-Wombat-42"
    with SecureServer(tmp_path) as s:
        token = s.key("clinic-3", "write")
        with s.client(token) as c:
            mid = c.add(f"My neighbour {secret} lent me a ladder.", user_id="p1").events[0].memory.id
            c.search(secret, user_id="p1")
        with s.client("rk_000000000000_" + "x" * 43) as bad, pytest.raises(Unauthenticated):
            bad.search("ladder", user_id="p1")
    log = s.server.log()
    assert secret not in log and "ladder" not in log
    audit = [json.loads(x) for x in log.splitlines() if x.startswith("{") and '"recalld.audit"' in x]
    add = next(a for a in audit if a["rpc"].endswith("/Add"))
    assert (add["tenant"], add["auth"], add["scope"], add["status"]) == ("clinic-3", "api_key", {"user_id": "p1"}, "OK")
    assert add["memory_ids"] == [mid] and add["principal"] == "clinic-3-write" and add["key_id"]
    search = next(a for a in audit if a["rpc"].endswith("/Search") and a["status"] == "OK")
    assert mid in search["memory_ids"]
    refused = next(a for a in audit if a["status"] == "UNAUTHENTICATED")
    assert (refused["tenant"], refused["principal"]) == ("", "unauthenticated")


def test_authentication_is_on_by_default_beyond_localhost(tmp_path: Path) -> None:
    env = {"RECALLD_LISTEN": "0.0.0.0:0", "RECALLD_RECONCILE_INTERVAL_S": "0"}
    with ServerProcess(tmp_path / "data", env=env) as server:
        assert "authentication on" in server.log()
        with Recalld(server.address) as c, pytest.raises(Unauthenticated):
            c.search("x", user_id="alice")
    with ServerProcess(tmp_path / "local", env={"RECALLD_RECONCILE_INTERVAL_S": "0"}) as server:
        assert "AUTHENTICATION OFF" in server.log() and "authentication is off" in server.log()
        with Recalld(server.address) as c:
            assert c.search("x", user_id="alice") == []


def test_cli_bootstraps_a_tenant_and_erases_a_user(tmp_path: Path) -> None:
    import subprocess
    import sys

    def cli(*args: str, key: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "recalld.server.cli", "--address", s.address, "--api-key", key, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    with SecureServer(tmp_path) as s:
        made = cli("keys", "create", "--tenant", "acme", "--role", "admin", "--name", "ops", "--json", key=s.bootstrap)
        assert made.returncode == 0, made.stderr
        token = json.loads(made.stdout)["token"]
        assert cli("add", "--user", "bob", "I'm allergic to latex.", key=token).returncode == 0
        listed = cli("keys", "list", key=token)
        assert "acme  admin  ops" in listed.stdout and token not in listed.stdout
        erased = cli("erase", "--user", "bob", key=token)
        assert erased.returncode == 0 and erased.stdout.startswith("erased 1 memories"), erased
        denied = cli("search", "--user", "bob", "latex", key="rk_000000000000_" + "y" * 43)
        assert denied.returncode == 1 and "UNAUTHENTICATED" in denied.stderr


def test_data_from_before_authentication_is_the_default_tenants(tmp_path: Path) -> None:
    s = SecureServer(tmp_path)
    plain = ServerProcess(s.root / "data", env={"RECALLD_RECONCILE_INTERVAL_S": "0"})  # auth off, as before
    with plain, Recalld(plain.address) as c:
        mid = c.add("I'm allergic to penicillin.", user_id="alice").events[0].memory.id
    with s:  # the same data directory, now with authentication
        with s.client(s.key("default", "read")) as c:
            assert c.get(mid, user_id="alice").text == "I'm allergic to penicillin."
        with s.client(s.key("other", "read")) as c:
            assert c.search("allergy", user_id="alice") == []
