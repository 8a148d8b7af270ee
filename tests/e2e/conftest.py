from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from recalld.v1 import admin_pb2_grpc, graph_pb2_grpc, memory_pb2_grpc
from tests.conftest import BACKENDS, backend_env
from tests.harness import ServerProcess

SEED = [
    "My cat Luna caught a cold last week.",
    "Luna is a Siamese.",
    "I'm allergic to penicillin.",
    "I study linear algebra and have a test next week.",
]

# Small limits so the RESOURCE_EXHAUSTED paths are cheap to reach.
LIMITS = {
    "RECALLD_LIMITS_MAX_MESSAGE_CHARS": "2000",
    "RECALLD_LIMITS_MAX_REQUEST_BYTES": "262144",
    "RECALLD_RECONCILE_INTERVAL_S": "0",
}


class Client:
    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.memory = memory_pb2_grpc.MemoryServiceStub(self.channel)
        self.graph = graph_pb2_grpc.GraphServiceStub(self.channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(self.channel)


@pytest.fixture(scope="module", params=BACKENDS)
def backends(request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment selecting the stores: every e2e test runs on each combination."""
    return {**LIMITS, **backend_env(request, request.param)}


@pytest.fixture(params=BACKENDS)
def fresh_backends(request: pytest.FixtureRequest) -> dict[str, str]:
    """Like ``backends``, with a fresh graph and collection for each test."""
    return {**LIMITS, **backend_env(request, request.param)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backends: dict[str, str]) -> Iterator[ServerProcess]:
    root: Path = tmp_path_factory.mktemp("server")
    proc = ServerProcess(root / "data", env=backends)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[Client]:
    c = Client(server.address)
    yield c
    c.channel.close()
