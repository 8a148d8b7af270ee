"""Crash consistency: SIGKILL the server at random moments during a stream of
Adds, 20 times, restart it each time, and check that no acknowledged memory is
lost and that the graph store and the vector index agree."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import grpc
import pytest

from recalld.v1 import admin_pb2, common_pb2, memory_pb2
from tests.e2e.conftest import Client
from tests.harness import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KILLS = 20
SCOPE = common_pb2.Scope(user_id="crash")


def stream_adds(c: Client, round_no: int, acked: dict[str, str], stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        texts = [f"In round {round_no} I wrote note {i} about my {kind}." for kind in ("garden", "cat")]
        try:
            r = c.memory.Add(
                memory_pb2.AddRequest(
                    scope=SCOPE, messages=[memory_pb2.Message(role="user", content=t) for t in texts]
                ),
                timeout=10,
            )
        except grpc.RpcError:
            return  # the server died under us: this Add was never acknowledged
        for res in r.results:
            acked[res.memory.id] = res.memory.text
        i += 1


def test_sigkill_during_adds_loses_nothing_and_leaves_no_drift(tmp_path: Path, fresh_backends: dict[str, str]) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    data = tmp_path / "data"
    acked: dict[str, str] = {}
    for round_no in range(KILLS):
        server = ServerProcess(data, env=fresh_backends).start()
        c = Client(server.address)
        if round_no:  # start-up reconciled whatever the previous kill interrupted
            report = c.admin.Verify(admin_pb2.VerifyRequest())
            assert report.consistent, f"seed {seed}, round {round_no}: drift after restart: {report}"
        stop = threading.Event()
        writer = threading.Thread(target=stream_adds, args=(c, round_no, acked, stop))
        writer.start()
        time.sleep(rng.uniform(0.05, 1.5))
        server.kill()
        stop.set()
        writer.join(20)
        c.channel.close()
    assert len(acked) >= KILLS, f"seed {seed}: too few writes acknowledged to mean anything ({len(acked)})"
    with ServerProcess(data, env=fresh_backends) as final:
        c = Client(final.address)
        stored: dict[str, str] = {}
        token = ""
        while True:
            page = c.memory.List(memory_pb2.ListRequest(scope=SCOPE, page_size=1000, page_token=token))
            stored.update((m.id, m.text) for m in page.memories)
            token = page.next_page_token
            if not token:
                break
        lost = {i: t for i, t in acked.items() if stored.get(i) != t}
        assert not lost, f"seed {seed}: {len(lost)} acknowledged memories lost, e.g. {next(iter(lost.items()))}"
        report = c.admin.Verify(admin_pb2.VerifyRequest())
        assert report.consistent and report.memories == report.vectors == len(stored), (seed, report)
        hits = c.memory.Search(memory_pb2.SearchRequest(scope=SCOPE, query="notes about my garden", limit=5)).hits
        assert hits and all(h.memory.id in stored for h in hits)
        c.channel.close()
