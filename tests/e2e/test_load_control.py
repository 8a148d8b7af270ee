"""Serving under load, over real gRPC: admission control refuses at once past the waiting line
(health keeps answering, a refused Add writes nothing), and several worker processes share one
port on the production stores (both serve, a dead worker is replaced, SIGTERM stops them all)."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from recalld.client import Recalld, RecalldError
from tests.conftest import backend_env
from tests.harness import ServerProcess, alive, children, descendants, describe, free_port

pytestmark = pytest.mark.e2e


def _facts(user: int, n: int) -> list[str]:
    return [f"My friend Person{user}x{i} recommended a book about topic number {i}." for i in range(n)]


def test_past_the_waiting_line_calls_are_refused_at_once_and_write_nothing(tmp_path: Path) -> None:
    env = {"RECALLD_MAX_CONCURRENT_RPCS": "1", "RECALLD_MAX_QUEUED_RPCS": "1", "RECALLD_RECONCILE_INTERVAL_S": "0"}
    with ServerProcess(tmp_path / "data", env=env) as server:
        users = range(10)

        def add(u: int) -> tuple[int, str]:
            with Recalld(server.address, timeout=120) as c:
                t0 = time.perf_counter()
                try:
                    c.add(_facts(u, 40), user_id=f"user-{u}")
                    return 0, ""
                except RecalldError as exc:
                    assert exc.code is grpc.StatusCode.RESOURCE_EXHAUSTED, exc
                    assert time.perf_counter() - t0 < 2.0  # refused at once, not after queueing
                    return 1, str(exc)

        with concurrent.futures.ThreadPoolExecutor(len(users)) as pool:
            futures = [pool.submit(add, u) for u in users]
            time.sleep(0.3)
            with grpc.insecure_channel(server.address) as ch:  # a probe during the burst is answered
                health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            outcomes = [f.result() for f in futures]
        refused = [u for u, (r, _) in zip(users, outcomes, strict=True) if r]
        assert refused and len(refused) < len(users)
        message = next(m for r, m in outcomes if r)
        assert "server busy" in message and "RECALLD_MAX_QUEUED_RPCS=1" in message
        with Recalld(server.address, timeout=60) as c:
            for u in users:
                stored = c.list(user_id=f"user-{u}", page_size=100).memories
                assert (len(stored) == 0) == (u in refused), (u, len(stored))


def _rpc_count(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(
        float(ln.rsplit(" ", 1)[1])
        for ln in text.splitlines()
        if ln.startswith("recalld_rpc_requests_total{") and "MemoryService" in ln
    )


@pytest.mark.slow
def test_workers_share_the_port_and_are_replaced_and_stopped(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    metrics = free_port()
    env = backend_env(request, "falkordb+milvus") | {
        "RECALLD_WORKERS": "2",
        "RECALLD_LISTEN": f"127.0.0.1:{free_port()}",
        "RECALLD_METRICS_LISTEN": f"127.0.0.1:{metrics}",
        "RECALLD_RECONCILE_INTERVAL_S": "1",
    }
    server = ServerProcess(tmp_path / "data", env=env).start()
    try:
        deadline = time.monotonic() + 60
        while len(children(server.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = children(server.pid)
        assert len(workers) == 2

        def use(k: int) -> None:
            with Recalld(server.address, timeout=60) as c:  # one channel (one connection) each
                c.add(f"My friend Worker{k} plays the cello.", user_id="shared")
                assert c.search("who plays the cello?", user_id="shared")

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # new connections are spread by the kernel: both serve
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(use, range(8)))
            with_port = [_rpc_count(metrics + i) for i in range(2)]
            if all(n > 0 for n in with_port):
                break
        assert all(n > 0 for n in with_port), with_port

        os.kill(workers[0], signal.SIGKILL)  # a worker dies: the supervisor starts another
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = children(server.pid)
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.2)
        assert len(now) == 2 and workers[0] not in now, now
        deadline = time.monotonic() + 60
        while True:  # the new worker comes up; every fresh connection is served
            try:
                use(100)
                break
            except RecalldError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        with Recalld(server.address, timeout=60) as c:
            assert len(c.list(user_id="shared", page_size=100).memories) >= 8  # (Worker100 may merge as a paraphrase)
    finally:
        assert server.proc is not None
        kids = descendants(server.pid)  # the workers and each one's own children
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(90)
        left = [pid for pid in kids if alive(pid)]
    assert code == 0
    assert not left, f"children outlived the supervisor: {describe(left)}"
