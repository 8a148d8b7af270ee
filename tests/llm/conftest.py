"""The LLM tier: a real llama.cpp ``llama-server`` running Gemma 3 270M on this machine (both
from PyPI, see tests/harness.py LlamaServer), started once per session and stopped by PID. The
tier fails, never skips, when the server cannot run: it is part of CI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import LlamaServer


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    server = LlamaServer(log_path=tmp_path_factory.mktemp("llama") / "llama-server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def llama_embeddings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    server = LlamaServer(log_path=tmp_path_factory.mktemp("llama-emb") / "llama-server.log", embeddings=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
