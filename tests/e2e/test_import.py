"""Import over real gRPC: the client stream, the CLI (JSONL and LoCoMo-style files), bad input,
and a SIGKILL mid-import followed by a re-run that imports every item exactly once."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from recalld.client import InvalidArgument, Recalld
from recalld.server.cli import main
from recalld.v1 import admin_pb2, admin_pb2_grpc, common_pb2, memory_pb2, memory_pb2_grpc
from tests.harness import ServerProcess

pytestmark = [pytest.mark.e2e]

AT = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
LOCOMO = [
    {
        "sample_id": "conv-x",
        "conversation": {
            "speaker_a": "Caroline",
            "speaker_b": "Mel",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Caroline", "dia_id": "D1:1", "text": "I went to a LGBTQ support group yesterday."},
                {"speaker": "Mel", "dia_id": "D1:2", "text": "I have a dog named Rex."},
            ],
            "session_2_date_time": "10:37 am on 27 June, 2023",
            "session_2": [{"speaker": "Caroline", "dia_id": "D2:1", "text": "I started painting last month."}],
        },
        "qa": [],
    }
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = ServerProcess(tmp_path_factory.mktemp("import") / "data").start()
    try:
        yield s
    finally:
        s.stop()


def memories(address: str, user: str) -> list[object]:
    with Recalld(address) as c:
        return list(c.iterate(user_id=user, page_size=1000))


def test_client_import_then_resend_skips_everything(server: ServerProcess) -> None:
    items = [
        {"source_id": f"chat:{i}", "user_id": "cli-c", "content": f"I have a pet number {i} named Pet{i}.",
         "metadata": {"line": i}, "reference_time": AT}
        for i in range(30)
    ]  # fmt: skip
    seen: list[int] = []
    with Recalld(server.address) as c:
        first = c.import_items(iter(items), batch=8, progress=seen.append)
        again = c.import_items(items, batch=5)
    assert (first.received, first.imported, first.skipped_duplicates) == (30, 30, 0)
    assert first.memories_written >= 30
    assert seen == [8, 16, 24, 30]
    assert (again.received, again.imported, again.skipped_duplicates, again.memories_written) == (30, 0, 30, 0)
    got = memories(server.address, "cli-c")
    assert len(got) == first.memories_written
    assert all(m.reference_time == AT and "line" in m.metadata for m in got)  # type: ignore[attr-defined]


def test_bad_streams_are_invalid_argument(server: ServerProcess) -> None:
    stub = memory_pb2_grpc.MemoryServiceStub(grpc.insecure_channel(server.address))
    with pytest.raises(grpc.RpcError) as e:
        stub.Import(iter([]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "no items" in e.value.details()

    bad_s = common_pb2.Scope(user_id="bad-s")
    good = memory_pb2.ImportItem(
        source_id="ok:1", scope=bad_s, messages=[memory_pb2.Message(role="user", content="I like tea.")]
    )
    no_scope = memory_pb2.ImportItem(source_id="bad:1", messages=[memory_pb2.Message(role="user", content="x y")])
    with pytest.raises(grpc.RpcError) as e:
        stub.Import(iter([memory_pb2.ImportRequest(items=[good, no_scope])]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "item 1 (source_id 'bad:1')" in e.value.details() and "1 imported" in e.value.details()
    assert [m.text for m in memories(server.address, "bad-s")] == ["I like tea."]  # type: ignore[attr-defined]

    empty = memory_pb2.ImportItem(
        source_id="bad:2", scope=bad_s, messages=[memory_pb2.Message(role="user", content=" ")]
    )
    with pytest.raises(InvalidArgument, match="content is empty"), Recalld(server.address) as c:
        c.import_items([{"source_id": "bad:2", "user_id": "bad-s", "content": " "}])
    with pytest.raises(grpc.RpcError) as e:
        stub.Import(iter([memory_pb2.ImportRequest(items=[empty])]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(memories(server.address, "bad-s")) == 1


def test_cli_imports_jsonl_and_locomo(
    server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonl = tmp_path / "chat.jsonl"
    rows = [
        {"role": "user", "content": "I live in Lisbon.", "timestamp": "2024-01-10T09:00:00Z"},
        {"role": "user", "content": "My sister Anna is a nurse.", "metadata": {"topic": "family"}},
        {"role": "assistant", "content": "Noted!", "name": ""},
    ]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = ["--address", server.address]
    assert main(["import", str(jsonl), "--user", "cli-j", "-q", *base]) == 0
    assert "3 items: 3 imported, 0 already imported" in capsys.readouterr().out
    assert main(["import", str(jsonl), "--user", "cli-j", "-q", *base]) == 0
    assert "3 items: 0 imported, 3 already imported" in capsys.readouterr().out
    got = memories(server.address, "cli-j")
    lisbon = [m for m in got if "Lisbon" in m.text]  # type: ignore[attr-defined]
    assert lisbon and lisbon[0].reference_time == datetime(2024, 1, 10, 9, tzinfo=UTC)  # type: ignore[attr-defined]

    loco = tmp_path / "locomo.json"
    loco.write_text(json.dumps(LOCOMO))
    assert main(["import", str(loco), "--user", "cli-l", "--no-infer", "-q", *base]) == 0
    assert "3 items: 3 imported" in capsys.readouterr().out
    got = memories(server.address, "cli-l")
    by_dia = {m.metadata["dia_id"]: m for m in got}  # type: ignore[attr-defined]
    assert set(by_dia) == {"D1:1", "D1:2", "D2:1"}
    assert by_dia["D2:1"].reference_time == datetime(2023, 6, 27, 10, 37, tzinfo=UTC)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_sigkill_mid_import_then_rerun_imports_each_item_once(tmp_path: Path) -> None:
    n, batch = 600, 16
    items = [
        memory_pb2.ImportItem(
            source_id=f"crash:{i}", scope=common_pb2.Scope(user_id="crash"), infer=False,
            messages=[memory_pb2.Message(role="user", content=f"Note {i}: the meeting moved to room {i}.")],
        )
        for i in range(n)
    ]  # fmt: skip
    requests = [memory_pb2.ImportRequest(items=items[i : i + batch]) for i in range(0, n, batch)]
    server = ServerProcess(tmp_path / "data").start()
    killed = threading.Event()

    def kill_midway() -> None:
        """SIGKILL once the first batches are committed (a batch of 64 is being written then)."""
        stub = memory_pb2_grpc.MemoryServiceStub(grpc.insecure_channel(server.address))
        while True:
            page = stub.List(memory_pb2.ListRequest(scope=common_pb2.Scope(user_id="crash"), page_size=1000))
            if len(page.memories) >= 70:
                server.kill()
                killed.set()
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_midway, daemon=True)
    killer.start()
    stub = memory_pb2_grpc.MemoryServiceStub(grpc.insecure_channel(server.address))
    with pytest.raises(grpc.RpcError):
        stub.Import(iter(requests), timeout=300)
    killer.join(10)
    assert killed.is_set()
    server.start()
    try:
        channel = grpc.insecure_channel(server.address)
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        done = stub.Import(iter(requests), timeout=300)
        assert done.received == n and done.imported + done.skipped_duplicates == n
        assert 0 < done.skipped_duplicates < n, done  # some items were imported before the kill, not all
        got = memories(server.address, "crash")
        per_text = Counter(m.text for m in got)  # type: ignore[attr-defined]
        assert len(per_text) == n and set(per_text.values()) == {1}, "duplicates or missing items"
        again = stub.Import(iter(requests), timeout=300)
        assert (again.imported, again.skipped_duplicates) == (0, n)
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        deadline = time.monotonic() + 60
        while True:  # the reconciler finishes what the kill left unindexed
            v = admin.Verify(admin_pb2.VerifyRequest())
            if v.consistent or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert v.consistent, v
        assert v.memories == n
    finally:
        server.stop()


def test_import_checks_each_item_against_the_credential(tmp_path: Path) -> None:
    """A key limited to alice imports into alice; an item for bob stops the stream with
    PERMISSION_DENIED after alice's items before it; a read-only key may not import at all."""
    from recalld.client import PermissionDenied
    from tests.e2e.secure import SecureServer

    with SecureServer(tmp_path / "secure") as s:
        writer = s.key("tenant-a", "write", users=["alice"])
        reader = s.key("tenant-a", "read")
        alice = [{"source_id": f"a:{i}", "user_id": "alice", "content": f"I own {i} books.", "infer": False}
                 for i in range(3)]  # fmt: skip
        bob = {"source_id": "b:1", "user_id": "bob", "content": "I own a boat.", "infer": False}
        with s.client(writer) as c:
            with pytest.raises(PermissionDenied, match=r"item 3.*may not access user 'bob'.*3 imported"):
                c.import_items([*alice, bob, *alice], batch=10)
            assert len(list(c.iterate(user_id="alice"))) == 3
        with s.client(reader) as c, pytest.raises(PermissionDenied, match="write"):
            c.import_items(alice)
        with s.client(s.key("tenant-a", "admin")) as c:
            assert not list(c.iterate(user_id="bob"))
