"""Milvus Lite in a child process (recalld.vector.lite_process): the child lives exactly as long as
its parent, and the data directory passes from a dead parent's child to the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from recalld.vector.lite_process import LiteProcess

PARENT = """
import asyncio, sys
from datetime import UTC, datetime
from recalld.kernel.domain import Scope
from recalld.kernel.ports import VectorRecord
from recalld.vector.milvus import MilvusVectorStore

async def main():
    store = MilvusVectorStore(uri=sys.argv[1], dim=4, collection="c", flush_rows=1, lite_process=True)
    await store.open()
    now = datetime.now(UTC)
    record = VectorRecord(id="m1", vector=[1.0, 0, 0, 0], scope=Scope("alice"), reference_time=now, metadata={})
    await store.upsert([record])
    print(store._lite.pid, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return status != "Z"


def test_a_killed_parent_takes_its_child_along_and_the_next_one_opens_the_data(tmp_path: Path) -> None:
    path = tmp_path / "milvus.db"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(path)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 20
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the Milvus Lite child outlived its SIGKILLed parent"

    lite = LiteProcess(path)
    uri = lite.start()  # the lock was released: the next child opens the same data
    try:
        from pymilvus import MilvusClient

        client = MilvusClient(uri=uri)
        client.load_collection("c")
        rows = client.query("c", filter='id == "m1"', output_fields=["id", "user_id"])
        assert [(r["id"], r["user_id"]) for r in rows] == [("m1", "alice")]
        client.close()
    finally:
        lite.stop()
    assert lite.pid is None


def test_a_second_child_waits_for_the_lock_of_one_still_stopping(tmp_path: Path) -> None:
    first = LiteProcess(tmp_path / "milvus.db")
    first.start()
    second = LiteProcess(tmp_path / "milvus.db", lock_wait_s=30)
    proc = subprocess.Popen(  # the second child, started while the first holds the lock
        [sys.executable, "-m", "recalld.vector.lite_process", str(second.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        assert proc.poll() is None  # waiting, not failed
        first.stop()
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("PORT ")
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(30) == 0
        if proc.stdout is not None:
            proc.stdout.close()
