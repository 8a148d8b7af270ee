"""The composition root: builds every component from typed settings.

The only module that knows which backend implements which protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import typing
from dataclasses import dataclass, field
from datetime import timedelta

from recalld.core.explore import GraphExplorer
from recalld.core.indexing import Indexer
from recalld.core.memory import MemoryPipeline
from recalld.core.operations import OperationRunner
from recalld.core.retrieval import HybridRetriever
from recalld.core.sharing import Sharing
from recalld.kernel.ports import Embedder, Extractor, GraphStore, Judge, VectorStore
from recalld.server.config import EmbedderKind, ExtractorKind, GraphBackend, JudgeKind, Settings
from recalld.server.instrumented import instrument
from recalld.server.metrics import Metrics

log = logging.getLogger(__name__)

_LAG_READ = 10_000  # pending index entries read for the lag gauge (it saturates there)


@dataclass
class App:
    settings: Settings
    graph: GraphStore
    vector: VectorStore
    embedder: Embedder
    extractor: Extractor
    indexer: Indexer
    memories: MemoryPipeline
    retriever: HybridRetriever
    explorer: GraphExplorer
    operations: OperationRunner
    sharing: Sharing
    metrics: Metrics = field(default_factory=Metrics)
    llm_stats: typing.Callable[[], dict[str, int]] | None = None
    _reconciler: asyncio.Task[None] | None = field(default=None, repr=False)
    _pruner: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        """Open the stores and converge the vector index with the system of record."""
        t0 = time.perf_counter()
        await self.graph.open()
        await self.vector.open()
        upserted, deleted = await self.indexer.reconcile()
        self.metrics.reconciled("reconcile", upserted, deleted)
        log.info(
            "stores open in %.2fs (reconciled %d upserts, %d deletes)", time.perf_counter() - t0, upserted, deleted
        )
        # What a crash left also includes vectors whose mark it never wrote: a full sweep finds
        # those. It reads every id on both sides, so it runs in the background when a reconciler
        # runs (serving starts at once), else here.
        if self.settings.reconcile_interval_s > 0:
            self._reconciler = asyncio.create_task(self._reconcile_forever(), name="reconciler")
        else:
            await self._pass("sweep")
        await self.operations.start()
        if self.settings.prune_interval_s > 0:
            self._pruner = asyncio.create_task(self._prune_forever(), name="pruner")

    async def _prune_forever(self) -> None:
        """Remove expired memories every ``prune_interval_s`` (the first time at start-up)."""
        while True:
            try:
                await self.memories.prune_expired()
            except Exception:
                log.exception("pruning expired memories failed; retried next interval")
            await asyncio.sleep(self.settings.prune_interval_s)

    async def _pass(self, kind: str) -> None:
        """One reconciler pass (``reconcile``: pending index work; ``sweep``: full comparison),
        counted in the metrics."""
        run = self.indexer.reconcile if kind == "reconcile" else self.indexer.sweep
        try:
            upserted, deleted = await run()
        except Exception:
            self.metrics.reconciler_failures.labels(kind).inc()
            raise
        self.metrics.reconciled(kind, upserted, deleted)

    async def _reconcile_forever(self) -> None:
        """A full sweep first, then pending index work every ``reconcile_interval_s`` and a full
        sweep every ``sweep_interval_s``."""
        try:
            await self._pass("sweep")
        except Exception:
            log.exception("start-up sweep failed; the periodic sweep retries")
        last_sweep = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.reconcile_interval_s)
            try:
                if (
                    self.settings.sweep_interval_s > 0
                    and time.monotonic() - last_sweep >= self.settings.sweep_interval_s
                ):
                    last_sweep = time.monotonic()
                    await self._pass("reconcile")
                    await self._pass("sweep")
                else:
                    await self._pass("reconcile")
            except Exception:
                log.exception("periodic reconcile failed")

    async def check_stores(self, timeout_s: float = 3.0) -> dict[str, str | None]:
        """Ping each store (``None``: it answered; else why not) and refresh the gauges that need
        them (index lag, pending asynchronous Adds). Readiness follows the answer."""
        out: dict[str, str | None] = {}
        for name, store in (("graph", self.graph), ("vector", self.vector)):
            try:
                await asyncio.wait_for(store.ping(), timeout_s)
                out[name] = None
            except TimeoutError:
                out[name] = f"no answer within {timeout_s:g}s"
            except Exception as exc:
                out[name] = str(exc) or type(exc).__name__
            self.metrics.store_up.labels(name).set(0 if out[name] else 1)
        if out["graph"] is None:
            with contextlib.suppress(Exception):
                pending = await asyncio.wait_for(self.graph.pending_index(_LAG_READ), timeout_s)
                self.metrics.index_lag.set(len(pending.upserts) + len(pending.deletes))
                self.metrics.operations_pending.set(
                    await asyncio.wait_for(self.graph.count_unfinished_operations(), timeout_s)
                )
        return out

    async def close(self) -> None:
        if self.llm_stats is not None:
            # Counts only (calls, fallbacks, repairs, ...): never content.
            log.info("llm stats %s", json.dumps(self.llm_stats(), sort_keys=True))
        await self.operations.close()
        for task in (self._reconciler, self._pruner):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.vector.close()
        await self.graph.close()


def _graph_store(settings: Settings) -> GraphStore:
    backend = GraphBackend(settings.graph_backend)
    if backend is GraphBackend.EMBEDDED:
        from recalld.graph.embedded import EmbeddedGraphStore

        return EmbeddedGraphStore(path=settings.data_dir / "graph.db")
    if backend is GraphBackend.FALKORDB:
        from recalld.graph.falkordb import FalkorDBGraphStore

        return FalkorDBGraphStore(
            url=settings.graph_uri or "falkor://127.0.0.1:6379",
            graph=settings.graph_database or "recalld",
            username=settings.graph_user or None,
            password=settings.graph_password or None,
        )
    if backend is GraphBackend.NEO4J:
        from recalld.graph.neo4j import Neo4jGraphStore

        if not settings.graph_uri:
            raise ValueError("the neo4j graph backend needs RECALLD_GRAPH_URI (e.g. neo4j+s://host:7687)")
        return Neo4jGraphStore(
            uri=settings.graph_uri,
            user=settings.graph_user,
            password=settings.graph_password,
            database=settings.graph_database or None,
        )
    typing.assert_never(backend)


def _embedder(settings: Settings) -> Embedder:
    if settings.embedder is EmbedderKind.OPENAI:
        from recalld.llm.structured import LLMSettings, make_client
        from recalld.vector.openai_embedder import OpenAIEmbedder

        e = settings.embedding
        endpoint = LLMSettings(
            base_url=e.base_url or settings.llm.base_url,
            api_key=e.api_key or settings.llm.api_key,
            api_key_file=e.api_key_file or ("" if e.api_key else settings.llm.api_key_file),
            timeout_s=settings.llm.timeout_s,
            max_retries=settings.llm.max_retries,
        )
        return OpenAIEmbedder(make_client(endpoint), model=e.model, dim=e.dim)
    from recalld.vector.embedders import MiniLMOnnxEmbedder

    return MiniLMOnnxEmbedder(threads=settings.embedder_threads)


def _llm_parts(
    settings: Settings, spacy: Extractor
) -> tuple[Extractor, Judge | None, typing.Callable[[], dict[str, int]] | None]:
    """The extractor (the LLM one over ``spacy`` as its fallback, or spaCy), the judge, and a
    reader of the LLM path's counters."""
    wants_llm = settings.extractor is ExtractorKind.LLM or settings.truth_judge is JudgeKind.LLM
    if not wants_llm:
        return spacy, None, None
    from recalld.llm.extractor import LLMExtractor
    from recalld.llm.judge import LLMJudge
    from recalld.llm.structured import StructuredClient, make_client

    structured = StructuredClient(make_client(settings.llm), settings.llm)
    log.info(
        "LLM path: model %s at %s (extraction: %s, reconciliation judge: %s)",
        settings.llm.model,
        settings.llm.base_url or "api.openai.com",
        settings.extractor.value,
        settings.truth_judge.value,
    )
    llm_extractor = LLMExtractor(structured, spacy) if settings.extractor is ExtractorKind.LLM else None
    judge = LLMJudge(structured) if settings.truth_judge is JudgeKind.LLM else None

    def stats() -> dict[str, int]:
        out = {f"client_{k}": v for k, v in structured.stats.items()}
        out |= {f"extraction_{k}": v for k, v in (llm_extractor.stats if llm_extractor else {}).items()}
        out |= {f"judge_{k}": v for k, v in (judge.stats if judge else {}).items()}
        return out

    return llm_extractor or spacy, judge, stats


def build_app(settings: Settings, *, embedder: Embedder | None = None, extractor: Extractor | None = None) -> App:
    """Everything wired from settings. ``embedder``/``extractor`` may be passed in
    to share one loaded model between several apps (tests, benchmarks)."""
    from recalld.extraction.spacy import SpacyExtractor
    from recalld.vector.milvus import MilvusVectorStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()
    graph = instrument(_graph_store(settings), "graph", metrics)
    embedder = instrument(embedder or _embedder(settings), "embedder", metrics)
    vector: VectorStore = MilvusVectorStore(
        uri=settings.milvus_uri,
        token=settings.vector_token,
        dim=embedder.dim,
        collection=settings.vector_collection,
        index_type=settings.milvus_index.value,
        flush_rows=settings.milvus_flush_rows,
        user_buckets=settings.vector_user_buckets,
        consistency_level=settings.vector_consistency.value,
    )
    vector = instrument(vector, "vector", metrics)
    extractor = extractor or SpacyExtractor(model=settings.spacy_model)
    extractor, judge, llm_stats = _llm_parts(settings, extractor)
    extractor = instrument(extractor, "extractor", metrics)
    indexer = Indexer(graph=graph, vector=vector, embedder=embedder)
    memories = MemoryPipeline(
        graph=graph,
        vector=vector,
        embedder=embedder,
        extractor=extractor,
        indexer=indexer,
        limits=settings.limits,
        reconcile=settings.truth,
        session_ttl=timedelta(seconds=settings.session_ttl_s) if settings.session_ttl_s > 0 else None,
        judge=judge,
    )
    return App(
        settings=settings,
        graph=graph,
        vector=vector,
        embedder=embedder,
        extractor=extractor,
        indexer=indexer,
        memories=memories,
        retriever=HybridRetriever(
            graph=graph,
            vector=vector,
            embedder=embedder,
            extractor=extractor,
            settings=settings.search,
            limits=settings.limits,
            decay=settings.decay,
        ),
        explorer=GraphExplorer(graph=graph),
        operations=OperationRunner(
            graph=graph,
            pipeline=memories,
            settings=settings.async_add,
            # SQLite and Milvus Lite allow one process per data directory: nobody else holds a lease.
            exclusive=GraphBackend(settings.graph_backend) is GraphBackend.EMBEDDED,
        ),
        sharing=Sharing(graph=graph),
        metrics=metrics,
        llm_stats=llm_stats,
    )
