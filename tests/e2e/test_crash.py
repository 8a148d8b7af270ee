"""Crash consistency: SIGKILL the server during a stream of Adds, 8 times (``RECALLD_CRASH_KILLS``
for more), restart it each time,
and check that no acknowledged memory is lost and that the graph store and the vector index agree.

Each kill comes after a number of acknowledged Adds and a fraction of an Add's duration, both drawn
from a seeded RNG, so the kill lands while the next Add is in flight however slow the machine is.
The seed is printed and in every assertion message; ``RECALLD_CRASH_SEED=<seed>`` replays it.
"""

from __future__ import annotations

import os
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

KILLS = int(os.environ.get("RECALLD_CRASH_KILLS") or 8)  # each run draws a new seed
ACKS_PER_ROUND = (1, 8)  # the number of acknowledged Adds before a kill, drawn per round
ROUND_TIMEOUT_S = 120.0
SCOPE = common_pb2.Scope(user_id="crash")


def crash_seed() -> int:
    seed = int(os.environ.get("RECALLD_CRASH_SEED") or random.randrange(1 << 30))
    print(f"RECALLD_CRASH_SEED={seed}")  # shown with the failure
    return seed


class AddStream(threading.Thread):
    """Adds two facts at a time until the server dies. ``acked`` (shared by every round) maps the
    id of each memory an acknowledged Add reported to its text; ``reached`` is set once
    ``kill_after`` Adds of this round have been acknowledged."""

    def __init__(self, c: Client, round_no: int, acked: dict[str, str], kill_after: int) -> None:
        super().__init__(name=f"adds-{round_no}", daemon=True)
        self.c, self.round_no, self.acked, self.kill_after = c, round_no, acked, kill_after
        self.acks = 0
        self.last_add_s = 0.0
        self.reached = threading.Event()
        self.error: grpc.RpcError | None = None
        self.empty: list[int] = []  # Adds acknowledged with no result: nothing to check

    def run(self) -> None:
        i = 0
        while True:
            texts = [f"In round {self.round_no} I wrote note {i} about my {kind}." for kind in ("garden", "cat")]
            t0 = time.perf_counter()
            try:
                r = self.c.memory.Add(
                    memory_pb2.AddRequest(
                        scope=SCOPE, messages=[memory_pb2.Message(role="user", content=t) for t in texts]
                    ),
                    timeout=30,
                )
            except grpc.RpcError as e:
                self.error = e  # after the kill: this Add was never acknowledged
                return
            self.last_add_s = time.perf_counter() - t0
            if not r.results:
                self.empty.append(i)
            for res in r.results:
                if res.event == memory_pb2.EVENT_DELETE:
                    self.acked.pop(res.memory.id, None)
                else:
                    self.acked[res.memory.id] = res.memory.text
            self.acks += 1
            if self.acks == self.kill_after:
                self.reached.set()
            i += 1


def list_all(c: Client) -> dict[str, str]:
    stored: dict[str, str] = {}
    token = ""
    while True:
        page = c.memory.List(memory_pb2.ListRequest(scope=SCOPE, page_size=1000, page_token=token))
        stored.update((m.id, m.text) for m in page.memories)
        token = page.next_page_token
        if not token:
            return stored


def assert_nothing_lost(c: Client, acked: dict[str, str], ctx: str) -> dict[str, str]:
    stored = list_all(c)
    lost = {i: t for i, t in acked.items() if stored.get(i) != t}
    assert not lost, f"{ctx}: {len(lost)} of {len(acked)} acknowledged memories lost, e.g. {next(iter(lost.items()))}"
    return stored


def test_sigkill_during_adds_loses_nothing_and_leaves_no_drift(tmp_path: Path, fresh_backends: dict[str, str]) -> None:
    seed = crash_seed()
    rng = random.Random(seed)
    data = tmp_path / "data"
    acked: dict[str, str] = {}
    for round_no in range(KILLS):
        kill_after, fraction = rng.randint(*ACKS_PER_ROUND), rng.random()
        ctx = f"RECALLD_CRASH_SEED={seed}, round {round_no} (kill after {kill_after} acknowledged Adds)"
        server = ServerProcess(data, env=fresh_backends).start()
        c = Client(server.address)
        if round_no:  # start-up reconciled whatever the previous kill interrupted
            report = c.admin.Verify(admin_pb2.VerifyRequest())
            assert report.consistent, f"{ctx}: drift after restart: {report}"
            assert_nothing_lost(c, acked, f"{ctx}, after the restart")
        stream = AddStream(c, round_no, acked, kill_after)
        stream.start()
        deadline = time.monotonic() + ROUND_TIMEOUT_S
        while not stream.reached.wait(0.05) and stream.is_alive() and time.monotonic() < deadline:
            pass
        if stream.reached.is_set():
            time.sleep(fraction * stream.last_add_s)  # into the next Add, already on its way
        server.kill()
        stream.join(60)
        c.channel.close()
        assert not stream.is_alive(), f"{ctx}: the Add stream did not end after the kill"
        assert stream.acks >= kill_after, (
            f"{ctx}: only {stream.acks} Adds acknowledged before the kill; the stream ended with {stream.error!r}"
        )
        assert not stream.empty, f"{ctx}: Adds {stream.empty} were acknowledged without any memory"
    with ServerProcess(data, env=fresh_backends) as final:
        c = Client(final.address)
        ctx = f"RECALLD_CRASH_SEED={seed}, after the last restart"
        stored = assert_nothing_lost(c, acked, ctx)
        report = c.admin.Verify(admin_pb2.VerifyRequest())
        assert report.consistent and report.memories == report.vectors == len(stored), f"{ctx}: {report}"
        hits = c.memory.Search(memory_pb2.SearchRequest(scope=SCOPE, query="notes about my garden", limit=5)).hits
        assert hits and all(h.memory.id in stored for h in hits), f"{ctx}: {hits}"
        c.channel.close()
