"""Backends under contract. Issue 3 adds FalkorDB/Neo4j graph stores and a
Milvus server vector store to these parameter lists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from graph.base import GraphStore
from vector.base import VectorStore


@pytest.fixture(params=["embedded"])
async def graph_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[GraphStore]:
    from graph.embedded import EmbeddedGraphStore

    store: GraphStore = EmbeddedGraphStore(path=tmp_path / "graph.db")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=["milvus-lite"])
async def vector_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    from vector.milvus import MilvusVectorStore

    store: VectorStore = MilvusVectorStore(uri=str(tmp_path / "milvus.db"), dim=4, collection="contract")
    await store.open()
    try:
        yield store
    finally:
        await store.close()
