"""Server lifecycle in one place: build, start, health and readiness, reflection, TLS, metrics,
tracing, signals, graceful stop.

Health (grpc.health.v1) answers three kinds of name:

- ``liveness``: SERVING from start until shutdown begins (a store outage is not a reason to
  restart the process);
- ``readiness``, ``""`` and each recalld service: SERVING only while every store answers its
  ping (checked every ``RECALLD_READINESS_INTERVAL_S``), so traffic moves away from a replica
  whose stores are unreachable and comes back when they return;
- all NOT_SERVING as soon as shutdown begins.

Health is served on the main port and, when ``RECALLD_HEALTH_LISTEN`` is set, on a plaintext
health-only port (Kubernetes gRPC probes cannot speak TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from recalld.server.api.admission import AdmissionInterceptor
from recalld.server.api.authn import Authenticator
from recalld.server.api.guard import GuardInterceptor
from recalld.server.api.interceptor import ObservingInterceptor
from recalld.server.api.limits import RateLimiter
from recalld.server.api.servicers import AdminServicer, GraphServicer, MemoryServicer
from recalld.server.app import App, build_app
from recalld.server.config import Settings
from recalld.server.keys import ApiKeys
from recalld.server.logs import flush_logs
from recalld.server.metrics import MetricsServer
from recalld.server.tracing import start_tracing
from recalld.server.workers import is_worker, supervise
from recalld.v1 import admin_pb2, admin_pb2_grpc, graph_pb2, graph_pb2_grpc, memory_pb2, memory_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    memory_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name,
    graph_pb2.DESCRIPTOR.services_by_name["GraphService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
)
LIVENESS = "liveness"
READINESS = "readiness"
_READY_NAMES = ("", READINESS, *SERVICE_NAMES)
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class TlsFiles:
    """Server TLS from PEM files, re-read when any of them changes: gRPC asks at each new
    handshake, and a rotated certificate (Kubernetes updates mounted secrets in place) is served
    from the next connection on, without a restart. A client CA makes it mutual TLS."""

    def __init__(self, cert: str, key: str, client_ca: str = "") -> None:
        self._paths = [Path(p) for p in (cert, key, client_ca) if p]
        self._cert, self._key, self._ca = Path(cert), Path(key), Path(client_ca) if client_ca else None
        self._stamp = self._read_stamp()
        self.credentials = grpc.dynamic_ssl_server_credentials(
            self._configuration(), self._fetch, require_client_authentication=self._ca is not None
        )

    def _read_stamp(self) -> tuple[tuple[int, int], ...]:
        return tuple((s.st_mtime_ns, s.st_size) for s in (p.stat() for p in self._paths))

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        pair = (self._key.read_bytes(), self._cert.read_bytes())
        ca = self._ca.read_bytes() if self._ca else None
        return grpc.ssl_server_certificate_configuration([pair], root_certificates=ca)

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        try:
            stamp = self._read_stamp()
            if stamp == self._stamp:
                return None  # unchanged: keep the current configuration
            config = self._configuration()
        except (OSError, ValueError) as exc:  # a rotation half-written: keep serving the old pair
            log.warning("TLS files unreadable (%s); keeping the current certificate", exc)
            return None
        self._stamp = stamp
        log.info("TLS certificate files changed: new connections use them")
        return config


class RecalldServer:
    def __init__(self, app: App) -> None:
        self.app = app
        s = app.settings
        options = [
            ("grpc.max_receive_message_length", s.limits.max_request_bytes),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            # several worker processes share the port (RECALLD_WORKERS): the kernel spreads new
            # connections over them; one process alone must not share a port by accident
            ("grpc.so_reuseport", 1 if s.workers > 1 else 0),
        ]
        self.authenticator = Authenticator.from_settings(s, app.control) if s.auth_enabled else None
        guard = GuardInterceptor(s, self.authenticator, RateLimiter(s))
        interceptors: list[grpc.aio.ServerInterceptor] = [ObservingInterceptor(app.metrics)]
        if s.max_concurrent_rpcs > 0:
            self.admission: AdmissionInterceptor | None = AdmissionInterceptor(
                s.max_concurrent_rpcs, s.max_queued_rpcs, app.metrics
            )
            interceptors.append(self.admission)
        else:
            self.admission = None
        self._server = grpc.aio.server(interceptors=[*interceptors, guard], options=options)
        self._health = health_aio.HealthServicer()
        memory_pb2_grpc.add_MemoryServiceServicer_to_server(MemoryServicer(app), self._server)
        graph_pb2_grpc.add_GraphServiceServicer_to_server(GraphServicer(app), self._server)
        keys = ApiKeys(app.control, on_revoke=self.authenticator.forget if self.authenticator else lambda _: None)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(app, keys), self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self._server,
        )
        self.tls = bool(s.tls.cert_file)
        if self.tls:
            creds = TlsFiles(s.tls.cert_file, s.tls.key_file, s.tls.client_ca_file).credentials
            self.port = self._server.add_secure_port(s.listen, creds)
        else:
            self.port = self._server.add_insecure_port(s.listen)
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {s.listen}")
        self._health_server: grpc.aio.Server | None = None
        self.health_port: int | None = None
        if s.health_listen:
            self._health_server = grpc.aio.server(options=[("grpc.so_reuseport", 1 if s.workers > 1 else 0)])
            health_pb2_grpc.add_HealthServicer_to_server(self._health, self._health_server)
            self.health_port = self._health_server.add_insecure_port(s.health_listen)
            if self.health_port == 0:
                raise RuntimeError(f"cannot listen on {s.health_listen}")
        self._ready: bool | None = None
        self._readiness: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.app.start()
        await self._server.start()
        if self._health_server is not None:
            await self._health_server.start()
        await self._health.set(LIVENESS, _SERVING)
        await self.check_readiness()
        interval = self.app.settings.readiness_interval_s
        if interval > 0:
            self._readiness = asyncio.create_task(self._readiness_forever(interval), name="readiness")

    async def check_readiness(self) -> bool:
        """Ping the stores once and set the readiness names to match; logs each change."""
        problems = {k: v for k, v in (await self.app.check_stores()).items() if v}
        ready = not problems
        if ready != self._ready:
            if ready:
                log.info("ready: every store answers")
                if self._ready is False:  # back from an outage: look for writes a store lost
                    self.app.request_sweep()
            else:
                log.warning("not ready: %s", "; ".join(f"{k} store: {v}" for k, v in sorted(problems.items())))
            for name in _READY_NAMES:
                await self._health.set(name, _SERVING if ready else _NOT_SERVING)
            self._ready = ready
        return ready

    async def _readiness_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check_readiness()
            except Exception:
                log.exception("readiness check failed")

    async def stop(self, grace: float) -> None:
        """Health NOT_SERVING first (load balancers stop sending), then new calls are refused and
        calls in flight get ``grace`` seconds, then background work stops and the stores close."""
        if self._readiness is not None:
            self._readiness.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._readiness
        await self._health.enter_graceful_shutdown()  # every name NOT_SERVING, and it stays so
        await self._server.stop(grace)
        if self._health_server is not None:
            await self._health_server.stop(0)
        await self.app.close()

    async def wait(self) -> None:
        await self._server.wait_for_termination()


_CLOSE_DEADLINE_S = 15.0  # after the grace period, how long closing the stores and children may take


async def serve(settings: Settings) -> None:
    if settings.workers > 1 and not is_worker():
        status = await supervise(settings)
        if status:
            raise SystemExit(status)
        return
    t0 = time.perf_counter()
    tracing = start_tracing(settings)
    server = RecalldServer(build_app(settings))
    metrics_server = MetricsServer(server.app.metrics, settings.metrics_listen) if settings.metrics_listen else None
    await server.start()
    host = settings.listen.rsplit(":", 1)[0]
    security = "plaintext" if not server.tls else "mutual TLS" if settings.tls.client_ca_file else "TLS"
    auth = "authentication on" if settings.auth_enabled else "AUTHENTICATION OFF"
    log.info(
        "recalld serving on %s:%d (ready in %.2fs, %s, %s, data in %s, pid %d)",
        host,
        server.port,
        time.perf_counter() - t0,
        security,
        auth,
        settings.data_dir,
        os.getpid(),
    )
    if not settings.auth_enabled:
        log.warning(
            "authentication is off: every caller is an admin of the default tenant (RECALLD_AUTH=on to require "
            "API keys or JWTs; it is on by default when listening beyond localhost)"
        )
    if server.health_port is not None:
        log.info("health-only port on %s:%d", settings.health_listen.rsplit(":", 1)[0], server.health_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: NOT_SERVING, calls in flight get %.1fs", settings.grace_period_s)
    try:
        await asyncio.wait_for(server.stop(settings.grace_period_s), settings.grace_period_s + _CLOSE_DEADLINE_S)
    except TimeoutError:
        # Exiting now is what a SIGKILL does, which recalld survives by design: SQLite commits each
        # write durably, the vector index is reconciled against the graph store at start-up, and
        # unfinished asynchronous Adds are taken over after their lease.
        step = server.app.closing[-1] if server.app.closing else "stopping gRPC"
        log.error(
            "stopping took over %.0fs (stuck at: %s): exiting now", settings.grace_period_s + _CLOSE_DEADLINE_S, step
        )
        flush_logs()
        os._exit(1)
    if metrics_server is not None:
        metrics_server.close()
    if tracing is not None:
        tracing.close()
    log.info("stopped")
    flush_logs()
