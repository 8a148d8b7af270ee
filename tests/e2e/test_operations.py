"""Operating the service: metrics, traces, logs, TLS, readiness and graceful shutdown, each checked
on a real `recalld serve` process the way an operator meets it (a Prometheus scrape, an OTLP
collector, the log stream, a TLS client, the health service, SIGTERM)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from recalld.client import InvalidArgument, Recalld, RetryPolicy, Unavailable
from recalld.v1 import common_pb2, memory_pb2, memory_pb2_grpc
from tests.harness import FalkorDBServer, ServerProcess, alive, children, descendants, describe, free_port

_NO_RETRY = RetryPolicy(attempts=1)
SECRET = "Zanzibar-Quokka-7741"  # a fact whose words must never reach the info-level log


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _health(address: str, service: str) -> int:
    with grpc.insecure_channel(address) as ch:
        return health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=service), timeout=3).status


def _wait_health(address: str, service: str, status: int, timeout: float) -> float:
    t0 = time.monotonic()
    while True:
        try:
            if _health(address, service) == status:
                return time.monotonic() - t0
        except grpc.RpcError:
            pass
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"health {service!r} never became {status} within {timeout}s")
        time.sleep(0.2)


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[tuple[ServerProcess, int]]:
    """A server with /metrics on a free port and JSON logs."""
    port = free_port()
    env = {
        "RECALLD_METRICS_LISTEN": f"127.0.0.1:{port}",
        "RECALLD_LOG_FORMAT": "json",
        "RECALLD_RECONCILE_INTERVAL_S": "1",
        "RECALLD_READINESS_INTERVAL_S": "0.5",
    }
    with ServerProcess(tmp_path / "data", env=env) as server:
        yield server, port


def test_metrics_count_rpcs_by_status_and_time_the_stores(observed: tuple[ServerProcess, int]) -> None:
    server, port = observed
    with Recalld(server.address) as c:
        c.add(["My cat Luna caught a cold.", "I'm allergic to penicillin."], user_id="alice")
        for _ in range(3):
            assert c.search("pet health", user_id="alice")
        with pytest.raises(InvalidArgument):
            c.get("no-such-memory", user_id="alice")
    time.sleep(1.2)  # one readiness pass refreshes the gauges
    m = _scrape(port)
    search = "/recalld.v1.MemoryService/Search"
    assert _value(m, "recalld_rpc_requests_total", method=search, code="OK") == 3
    get = "/recalld.v1.MemoryService/Get"
    assert _value(m, "recalld_rpc_requests_total", method=get, code="INVALID_ARGUMENT") == 1
    assert _value(m, "recalld_rpc_requests_total", method="/recalld.v1.MemoryService/Add", code="OK") == 1
    assert _value(m, "recalld_rpc_duration_seconds_count", method=search, code="OK") == 3
    assert _value(m, "recalld_store_call_duration_seconds_count", store="vector", op="search") >= 3
    assert _value(m, "recalld_store_call_duration_seconds_count", store="graph", op="add_memories") >= 1
    assert _value(m, "recalld_extraction_duration_seconds_count") >= 1
    assert _value(m, "recalld_embedding_duration_seconds_count") >= 4  # the Add's batch + 3 queries
    assert _value(m, "recalld_store_up", store="graph") == 1
    assert _value(m, "recalld_store_up", store="vector") == 1
    assert _value(m, "recalld_vector_index_lag") == 0  # the Add indexed its memories before answering
    assert _value(m, "recalld_reconciler_runs_total", kind="reconcile") >= 1
    assert ("recalld_async_operations_pending", ()) in m
    assert _value(m, "recalld_rpc_in_flight") == 0


def test_logs_are_json_with_request_ids_and_no_memory_text(observed: tuple[ServerProcess, int]) -> None:
    server, _ = observed
    with grpc.insecure_channel(server.address) as ch:
        stub = memory_pb2_grpc.MemoryServiceStub(ch)
        call = stub.Add.with_call(
            memory_pb2.AddRequest(
                scope=common_pb2.Scope(user_id="alice"),
                messages=[memory_pb2.Message(role="user", content=f"My friend {SECRET} moved to Lisbon.")],
            ),
            metadata=(("x-request-id", "req-test-42"),),
            timeout=30,
        )[1]
        assert ("x-request-id", "req-test-42") in call.initial_metadata()
        _, call = stub.Search.with_call(
            memory_pb2.SearchRequest(scope=common_pb2.Scope(user_id="alice"), query=SECRET), timeout=30
        )
        generated = dict(call.initial_metadata())["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{16}", generated)
    server.stop()
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= set(x) for x in lines)
    rpc = {x["request_id"]: x for x in lines if x["logger"] == "recalld.rpc"}
    assert rpc["req-test-42"]["message"].startswith("/recalld.v1.MemoryService/Add OK")
    assert rpc[generated]["message"].startswith("/recalld.v1.MemoryService/Search OK")
    # Non-JSON lines may only come from third-party native code; none of them, and no JSON line,
    # carries what the user said.
    assert SECRET not in server.log()
    assert "Lisbon" not in server.log()


class _Collector(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: what a collector would get, decoded with the OTLP protos."""

    def __init__(self) -> None:
        self.spans: list = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.path == "/v1/traces"
                req = ExportTraceServiceRequest.FromString(body)
                for rs in req.resource_spans:
                    for ss in rs.scope_spans:
                        collector.spans.extend(ss.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_traces_reach_an_otlp_collector_under_the_callers_trace(tmp_path: Path) -> None:
    collector = _Collector()
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    try:
        env = {"RECALLD_TRACING": "otlp", "RECALLD_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}"}
        with ServerProcess(tmp_path / "data", env=env) as server:
            with Recalld(server.address) as c:
                c.add("My cat Luna caught a cold.", user_id="alice")
            with grpc.insecure_channel(server.address) as ch:
                memory_pb2_grpc.MemoryServiceStub(ch).Search(
                    memory_pb2.SearchRequest(scope=common_pb2.Scope(user_id="alice"), query="Luna"),
                    metadata=(("traceparent", f"00-{trace_id}-{parent}-01"),),
                    timeout=30,
                )
        # the graceful stop flushed the batch
    finally:
        collector.shutdown()
        collector.server_close()
    ours = [s for s in collector.spans if s.trace_id.hex() == trace_id]
    root = [s for s in ours if s.name == "/recalld.v1.MemoryService/Search"]
    assert len(root) == 1 and root[0].parent_span_id.hex() == parent
    children = {s.name for s in ours if s.parent_span_id == root[0].span_id}
    assert {"embedder.embed", "vector.search", "graph.get_memories", "fusion"} <= children
    assert any(s.name == "extractor.extract" for s in collector.spans)  # the Add's own trace
    assert not {s.trace_id for s in collector.spans if s.name.endswith("/Add")} & {root[0].trace_id}


def _certificates(tmp: Path, ca: trustme.CA, name: str) -> tuple[Path, Path]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    crt, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert.private_key_pem.write_to_path(str(key))
    cert.cert_chain_pems[0].write_to_path(str(crt))
    for extra in cert.cert_chain_pems[1:]:
        with crt.open("ab") as f:
            f.write(extra.bytes())
    return crt, key


def test_mutual_tls_and_certificates_rotated_in_place(tmp_path: Path) -> None:
    server_ca, client_ca = trustme.CA(), trustme.CA()
    tls = tmp_path / "tls"
    tls.mkdir()
    crt, key = _certificates(tls, server_ca, "server")
    client_ca.cert_pem.write_to_path(str(tls / "client-ca.crt"))
    client_cert = client_ca.issue_cert("alice-app")
    env = {
        "RECALLD_TLS_CERT_FILE": str(crt),
        "RECALLD_TLS_KEY_FILE": str(key),
        "RECALLD_TLS_CLIENT_CA_FILE": str(tls / "client-ca.crt"),
        "RECALLD_HEALTH_LISTEN": "127.0.0.1:0",
    }

    def creds(ca: trustme.CA, with_client_cert: bool = True) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=ca.cert_pem.bytes(),
            private_key=client_cert.private_key_pem.bytes() if with_client_cert else None,
            certificate_chain=client_cert.cert_chain_pems[0].bytes() if with_client_cert else None,
        )

    with ServerProcess(tmp_path / "data", env=env) as server:
        assert "mutual TLS" in server.log()
        with Recalld(server.address, credentials=creds(server_ca), retry=_NO_RETRY) as c:
            c.add("I'm allergic to penicillin.", user_id="alice")
            assert c.search("allergy", user_id="alice")[0].memory.text == "I'm allergic to penicillin."
        anonymous = creds(server_ca, with_client_cert=False)
        with Recalld(server.address, credentials=anonymous, retry=_NO_RETRY) as c, pytest.raises(Unavailable):
            c.search("allergy", user_id="alice", timeout=5)
        with Recalld(server.address, retry=_NO_RETRY) as c, pytest.raises(Unavailable):  # plaintext against TLS
            c.search("allergy", user_id="alice", timeout=5)
        assert _health(server.health_address, "") == health_pb2.HealthCheckResponse.SERVING

        # Rotation as Kubernetes does it: new files in place; the next connection sees them.
        rotated_ca = trustme.CA()
        new_crt, new_key = _certificates(tls, rotated_ca, "next")
        shutil.copyfile(new_key, key)
        shutil.copyfile(new_crt, crt)
        with Recalld(server.address, credentials=creds(rotated_ca), retry=_NO_RETRY) as c:
            assert c.search("allergy", user_id="alice")
        with Recalld(server.address, credentials=creds(server_ca), retry=_NO_RETRY) as c, pytest.raises(Unavailable):
            c.search("allergy", user_id="alice", timeout=5)  # the old CA no longer vouches for the server


def test_readiness_follows_the_graph_server_and_liveness_does_not(tmp_path: Path) -> None:
    falkor = FalkorDBServer(data_dir=tmp_path / "falkor")
    falkor.start()
    env = {
        "RECALLD_GRAPH_BACKEND": "falkordb",
        "RECALLD_GRAPH_URI": falkor.url,
        "RECALLD_READINESS_INTERVAL_S": "0.5",
    }
    try:
        with ServerProcess(tmp_path / "data", env=env) as server, Recalld(server.address, retry=_NO_RETRY) as c:
            c.add("My cat Luna caught a cold.", user_id="alice")
            falkor.stop()
            _wait_health(server.address, "readiness", health_pb2.HealthCheckResponse.NOT_SERVING, 15)
            assert _health(server.address, "") == health_pb2.HealthCheckResponse.NOT_SERVING
            assert _health(server.address, "liveness") == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(Unavailable, match="FalkorDB unreachable"):
                c.search("Luna", user_id="alice", timeout=10)
            assert "not ready: graph store: FalkorDB unreachable" in server.log()

            falkor.start()  # same port, same append-only file
            _wait_health(server.address, "readiness", health_pb2.HealthCheckResponse.SERVING, 15)
            assert c.search("Luna", user_id="alice")[0].memory.text == "My cat Luna caught a cold."
    finally:
        falkor.stop()


def test_sigterm_drains_calls_in_flight_and_loses_no_acknowledged_add(tmp_path: Path) -> None:
    env = {"RECALLD_GRACE_PERIOD_S": "10", "RECALLD_RECONCILE_INTERVAL_S": "0"}
    server = ServerProcess(tmp_path / "data", env=env).start()
    acked: list[str] = []
    failed: list[grpc.StatusCode] = []
    cancelled_at: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        with grpc.insecure_channel(server.address) as ch:
            stub = memory_pb2_grpc.MemoryServiceStub(ch)
            i = 0
            while not stop.is_set():
                text = f"Writer {n} note {i}: I visited museum number {i}."
                try:
                    stub.Add(
                        memory_pb2.AddRequest(
                            scope=common_pb2.Scope(user_id=f"u{n}"),
                            messages=[memory_pb2.Message(role="user", content=text)],
                            infer=False,
                        ),
                        timeout=30,
                    )
                    with lock:
                        acked.append(text)
                except grpc.RpcError as exc:
                    with lock:
                        failed.append(exc.code())
                        if exc.code() is grpc.StatusCode.CANCELLED:
                            cancelled_at.append(time.monotonic())
                    if exc.code() is grpc.StatusCode.UNAVAILABLE:
                        return  # the server is gone
                i += 1

    def watcher() -> None:
        with grpc.insecure_channel(server.address) as ch:
            try:
                for r in health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(service=""), timeout=60):
                    statuses.append(r.status)
            except grpc.RpcError:
                pass

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)] + [threading.Thread(target=watcher)]
    for t in threads:
        t.start()
    time.sleep(3)
    kids = descendants(server.pid)  # the model worker, Milvus Lite's child, multiprocessing's tracker
    assert len(kids) >= 2, describe(kids)
    sigterm_at = time.monotonic()
    assert server.stop(timeout=60) == 0  # SIGTERM, and a clean exit
    left = [pid for pid in kids if alive(pid)]
    assert not left, f"children outlived the server: {describe(left)}"  # none left for a supervisor to reap
    stop.set()
    for t in threads:
        t.join(30)
    log = server.log()
    assert "stopping: NOT_SERVING" in log and "stopped" in log
    assert statuses[0] == health_pb2.HealthCheckResponse.SERVING
    assert health_pb2.HealthCheckResponse.NOT_SERVING in statuses  # told before the port closed
    assert len(acked) >= 4
    # A refused call is UNAVAILABLE; a call that reached the server's queue but no handler yet is
    # CANCELLED by gRPC core when the server stops (grpc/grpc#41785). Neither was acknowledged, so
    # neither counts against durability below; every writer ends on UNAVAILABLE (the port closed).
    assert failed and set(failed) <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}, failed
    assert failed.count(grpc.StatusCode.UNAVAILABLE) == 4, failed
    # ... and such a CANCELLED comes as the stop begins, not when the grace period (10 s) runs out,
    # which would mean a call in flight was cut off.
    assert all(t - sigterm_at < 8 for t in cancelled_at), [t - sigterm_at for t in cancelled_at]

    with ServerProcess(tmp_path / "data", env=env) as again, Recalld(again.address) as c:
        stored = {m.text for n in range(4) for m in c.iterate(user_id=f"u{n}")}
    assert set(acked) <= stored


def test_a_stop_that_hangs_ends_at_its_deadline_and_names_where(tmp_path: Path) -> None:
    """A graceful stop has a deadline: the grace period plus 15 s. A model worker that stopped
    answering (SIGSTOP) would hold the pool's shutdown forever; the server exits 1 at the deadline,
    as a SIGKILL would, and its log names the step it was stuck at."""
    env = {"RECALLD_GRACE_PERIOD_S": "1", "RECALLD_RECONCILE_INTERVAL_S": "0"}
    server = ServerProcess(tmp_path / "data", env=env).start()
    try:
        with Recalld(server.address) as c:
            c.add("My cat Luna caught a cold.", user_id="alice")  # the model worker is up
        workers = [p for p in children(server.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(workers) == 1
    except BaseException:
        server.stop()
        raise
    os.kill(workers[0], signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        code = server.stop(timeout=60)
        took = time.monotonic() - t0
    finally:
        os.kill(workers[0], signal.SIGKILL)
    assert code == 1 and 15 <= took < 30, (code, took)
    assert "stopping took over 16s (stuck at: stopping the model worker): exiting now" in server.log()
