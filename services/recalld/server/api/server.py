"""Server lifecycle in one place: build, start, health, reflection, signals, graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from recalld.server.api.servicers import AdminServicer, GraphServicer, MemoryServicer
from recalld.server.app import App, build_app
from recalld.server.config import Settings
from recalld.v1 import admin_pb2, admin_pb2_grpc, graph_pb2, graph_pb2_grpc, memory_pb2, memory_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    memory_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name,
    graph_pb2.DESCRIPTOR.services_by_name["GraphService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
)


class RecalldServer:
    def __init__(self, app: App) -> None:
        self.app = app
        limit = app.settings.limits.max_request_bytes
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
            ]
        )
        self._health = health_aio.HealthServicer()
        memory_pb2_grpc.add_MemoryServiceServicer_to_server(MemoryServicer(app), self._server)
        graph_pb2_grpc.add_GraphServiceServicer_to_server(GraphServicer(app), self._server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(app), self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self._server,
        )
        self.port = self._server.add_insecure_port(app.settings.listen)
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {app.settings.listen}")

    async def start(self) -> None:
        await self.app.start()
        await self._server.start()
        for name in ("", *SERVICE_NAMES):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        for name in ("", *SERVICE_NAMES):
            await self._health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.stop(grace)
        await self.app.close()

    async def wait(self) -> None:
        await self._server.wait_for_termination()


async def serve(settings: Settings) -> None:
    t0 = time.perf_counter()
    server = RecalldServer(build_app(settings))
    await server.start()
    host = settings.listen.rsplit(":", 1)[0]
    log.info(
        "recalld serving on %s:%d (ready in %.2fs, data in %s)",
        host,
        server.port,
        time.perf_counter() - t0,
        settings.data_dir,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping (grace %.1fs)", settings.grace_period_s)
    await server.stop(settings.grace_period_s)
    log.info("stopped")
