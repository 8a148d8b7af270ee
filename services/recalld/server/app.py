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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recalld.core.erasure import Eraser
from recalld.core.explore import GraphExplorer
from recalld.core.fence import ScopeFence
from recalld.core.indexing import Indexer
from recalld.core.memory import MemoryPipeline
from recalld.core.operations import OperationRunner
from recalld.core.retrieval import HybridRetriever
from recalld.core.settings import JudgeKind
from recalld.core.sharing import Sharing
from recalld.kernel.domain import DEFAULT_TENANT, TENANT_ID
from recalld.kernel.errors import InvalidArgument
from recalld.kernel.ports import CredentialStore, Embedder, Extractor, Judge, SystemOfRecord, VectorStore
from recalld.server.config import EmbedderKind, ExtractorKind, GraphBackend, Settings, Tracing
from recalld.server.instrumented import instrument
from recalld.server.metrics import Metrics
from recalld.server.models import ModelProcess, ProcessEmbedder, ProcessExtractor, stop_resource_tracker
from recalld.vector.batching import BatchingEmbedder

Closer = typing.Callable[[], typing.Awaitable[None]]
log = logging.getLogger(__name__)

_LAG_READ = 10_000  # pending index entries read for the lag gauge (it saturates there)


@dataclass
class Tenant:
    """Everything of one tenant: its own stores (a database, graph, collection or data directory
    of its own: no query of one tenant can reach another's data) and the services over them."""

    name: str
    graph: SystemOfRecord
    vector: VectorStore
    indexer: Indexer
    memories: MemoryPipeline
    retriever: HybridRetriever
    explorer: GraphExplorer
    operations: OperationRunner
    sharing: Sharing
    eraser: Eraser


class Tenants:
    """The tenants this process serves, opened on first use (and at start-up for every tenant
    the control store knows, so their interrupted erasures and asynchronous Adds resume)."""

    def __init__(self, default: Tenant, build: typing.Callable[[str], Tenant], control: CredentialStore) -> None:
        self.default = default
        self._build = build
        self.control = control
        self._open: dict[str, Tenant] = {}
        self._lock = asyncio.Lock()

    def opened(self) -> list[Tenant]:
        return list(self._open.values())

    async def get(self, name: str) -> Tenant:
        tenant = self._open.get(name)
        if tenant is not None:
            return tenant
        async with self._lock:
            tenant = self._open.get(name)
            if tenant is None:
                if not TENANT_ID.fullmatch(name):
                    raise InvalidArgument(f"tenant id {name!r} is invalid: 1-32 of a-z, 0-9 and inner dashes")
                tenant = self.default if name == DEFAULT_TENANT else self._build(name)
                try:
                    await _open_tenant(tenant)
                except BaseException:
                    if tenant is not self.default:
                        await _close_tenant(tenant, [])  # the next call builds it afresh
                    raise
                await self.control.register_tenant(name, datetime.now(UTC))
                self._open[name] = tenant
            return tenant

    async def start(self) -> None:
        await self.get(DEFAULT_TENANT)
        for name in await self.control.list_tenants():
            await self.get(name)

    async def close(self, progress: list[str] | None = None) -> None:
        """``progress``: the step running is appended to it (what a stop that hangs names)."""
        for tenant in reversed(self.opened()):
            await _close_tenant(tenant, progress if progress is not None else [])
        self._open.clear()


async def _close_tenant(t: Tenant, progress: list[str]) -> None:
    for name, step in (("operations", t.operations.close), ("vector", t.vector.close), ("graph", t.graph.close)):
        progress.append(f"tenant {t.name}: closing the {name} store")
        try:
            await step()
        except Exception:
            log.exception("closing tenant %s", t.name)


async def _open_tenant(t: Tenant) -> None:
    t0 = time.perf_counter()
    await t.graph.open()
    await t.vector.open()
    upserted, deleted = await t.indexer.reconcile()
    resumed = await t.eraser.resume()
    await t.operations.start()
    log.info(
        "tenant %s: stores open in %.2fs (reconciled %d upserts, %d deletes; %d erasures resumed)",
        t.name, time.perf_counter() - t0, upserted, deleted, resumed,
    )  # fmt: skip


@dataclass
class App:
    settings: Settings
    embedder: Embedder
    extractor: Extractor
    tenants: Tenants
    metrics: Metrics = field(default_factory=Metrics)
    llm_stats: typing.Callable[[], dict[str, int]] | None = None
    models: ModelProcess | None = None  # the model worker process, when the models run in one
    closers: tuple[Closer, ...] = ()  # the LLM and embeddings endpoints' HTTP clients
    _reconciler: asyncio.Task[None] | None = field(default=None, repr=False)
    _pruner: asyncio.Task[None] | None = field(default=None, repr=False)
    _sweep_now: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    closing: list[str] = field(default_factory=list, repr=False)  # close()'s steps so far

    def request_sweep(self) -> None:
        """Run a full sweep at the reconciler's next wake-up instead of at its interval: after a
        store outage (a vector store killed mid-write may have lost writes it acknowledged)."""
        self._sweep_now.set()

    # The default tenant's parts, for callers that serve one tenant (tests, benchmarks, tools).
    @property
    def default(self) -> Tenant:
        return self.tenants.default

    @property
    def graph(self) -> SystemOfRecord:
        return self.default.graph

    @property
    def vector(self) -> VectorStore:
        return self.default.vector

    @property
    def indexer(self) -> Indexer:
        return self.default.indexer

    @property
    def memories(self) -> MemoryPipeline:
        return self.default.memories

    @property
    def retriever(self) -> HybridRetriever:
        return self.default.retriever

    @property
    def explorer(self) -> GraphExplorer:
        return self.default.explorer

    @property
    def operations(self) -> OperationRunner:
        return self.default.operations

    @property
    def sharing(self) -> Sharing:
        return self.default.sharing

    @property
    def eraser(self) -> Eraser:
        return self.default.eraser

    @property
    def control(self) -> CredentialStore:
        """API keys and the tenant registry: kept in the default tenant's graph store."""
        return self.tenants.control

    async def tenant(self, name: str) -> Tenant:
        return await self.tenants.get(name)

    async def start(self) -> None:
        """Open the stores of every known tenant and converge each vector index with its system
        of record (resuming interrupted erasures and asynchronous Adds)."""
        if self.models is not None:
            await self.models.start()
        await self.tenants.start()
        # What a crash left also includes vectors whose mark it never wrote: a full sweep finds
        # those. It reads every id on both sides, so it runs in the background when a reconciler
        # runs (serving starts at once), else here.
        if self.settings.reconcile_interval_s > 0:
            self._reconciler = asyncio.create_task(self._reconcile_forever(), name="reconciler")
        else:
            for t in self.tenants.opened():
                await self._pass(t, "sweep")
        if self.settings.prune_interval_s > 0:
            self._pruner = asyncio.create_task(self._prune_forever(), name="pruner")

    async def _prune_forever(self) -> None:
        """Remove expired memories every ``prune_interval_s`` (the first time at start-up)."""
        while True:
            for t in self.tenants.opened():
                try:
                    await t.memories.prune_expired()
                except Exception:
                    log.exception("pruning expired memories of tenant %s failed; retried next interval", t.name)
            await asyncio.sleep(self.settings.prune_interval_s)

    async def _pass(self, tenant: Tenant, kind: str) -> None:
        """One reconciler pass (``reconcile``: pending index work; ``sweep``: full comparison),
        counted in the metrics."""
        run = tenant.indexer.reconcile if kind == "reconcile" else tenant.indexer.sweep
        try:
            upserted, deleted = await run()
        except Exception:
            self.metrics.reconciler_failures.labels(kind).inc()
            raise
        self.metrics.reconciled(kind, upserted, deleted)

    async def _reconcile_forever(self) -> None:
        """A full sweep first, then pending index work every ``reconcile_interval_s`` and a full
        sweep every ``sweep_interval_s``, for every open tenant."""
        for t in self.tenants.opened():
            try:
                await self._pass(t, "sweep")
            except Exception:
                log.exception("start-up sweep of tenant %s failed; the periodic sweep retries", t.name)
        last_sweep = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sweep_now.wait(), self.settings.reconcile_interval_s)
            sweep = self._sweep_now.is_set() or (
                self.settings.sweep_interval_s > 0 and time.monotonic() - last_sweep >= self.settings.sweep_interval_s
            )
            self._sweep_now.clear()
            if sweep:
                last_sweep = time.monotonic()
            for t in self.tenants.opened():
                try:
                    await self._pass(t, "reconcile")
                    if sweep:
                        await self._pass(t, "sweep")
                except Exception:
                    log.exception("periodic reconcile of tenant %s failed", t.name)

    async def check_stores(self, timeout_s: float = 3.0) -> dict[str, str | None]:
        """Ping each store of each open tenant (``None``: it answered; else why not) and refresh
        the gauges that need them (index lag, pending asynchronous Adds). Readiness follows."""
        out: dict[str, str | None] = {"graph": None, "vector": None}
        lag = pending = 0
        for t in self.tenants.opened():
            for name, store in (("graph", t.graph), ("vector", t.vector)):
                try:
                    await asyncio.wait_for(store.ping(), timeout_s)
                except TimeoutError:
                    out[name] = out[name] or f"no answer within {timeout_s:g}s"
                except Exception as exc:
                    out[name] = out[name] or (str(exc) or type(exc).__name__)
            with contextlib.suppress(Exception):
                p = await asyncio.wait_for(t.graph.pending_index(_LAG_READ), timeout_s)
                lag += len(p.upserts) + len(p.deletes)
                pending += await asyncio.wait_for(t.graph.count_unfinished_operations(), timeout_s)
        for name, problem in out.items():
            self.metrics.store_up.labels(name).set(0 if problem else 1)
        if out["graph"] is None:
            self.metrics.index_lag.set(lag)
            self.metrics.operations_pending.set(pending)
        return out

    async def close(self) -> None:
        if self.llm_stats is not None:
            # Counts only (calls, fallbacks, repairs, ...): never content.
            log.info("llm stats %s", json.dumps(self.llm_stats(), sort_keys=True))
        self.closing = ["stopping the reconciler and the pruner"]
        for task in (self._reconciler, self._pruner):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.tenants.close(self.closing)
        if self.models is not None:
            self.closing.append("stopping the model worker")
            await self.models.close()
            await asyncio.to_thread(stop_resource_tracker)
        if self.closers:
            self.closing.append("closing the endpoints' HTTP clients")
            for close in self.closers:
                with contextlib.suppress(Exception):
                    await close()


def _graph_store(settings: Settings, tenant: str = DEFAULT_TENANT) -> SystemOfRecord:
    """The tenant's graph store: the default tenant's is the one configured (so data written
    before tenants existed is the default tenant's); another tenant gets a database of its own
    (a SQLite file in its own directory, a FalkorDB graph, a Neo4j database)."""
    g = settings.graph
    backend = GraphBackend(g.backend)
    own = tenant != DEFAULT_TENANT
    if backend is GraphBackend.EMBEDDED:
        from recalld.graph.embedded import EmbeddedGraphStore

        return EmbeddedGraphStore(path=_tenant_dir(settings, tenant) / "graph.db")
    if backend is GraphBackend.FALKORDB:
        from recalld.graph.falkordb import FalkorDBGraphStore

        base = g.database or "recalld"
        return FalkorDBGraphStore(
            url=g.uri or "falkor://127.0.0.1:6379",
            graph=f"{base}__{tenant}" if own else base,
            username=g.user or None,
            password=g.password or None,
            timeout_s=g.timeout_s,
        )
    if backend is GraphBackend.NEO4J:
        from recalld.graph.neo4j import Neo4jGraphStore

        if not g.uri:
            raise ValueError("the neo4j graph backend needs RECALLD_GRAPH_URI (e.g. neo4j+s://host:7687)")
        # A database per tenant (Neo4j Enterprise / Aura: create it first); names allow a-z 0-9 . -
        database = f"{g.database or 'recalld'}-{tenant}" if own else g.database or None
        return Neo4jGraphStore(uri=g.uri, user=g.user, password=g.password, database=database)
    typing.assert_never(backend)


def _tenant_dir(settings: Settings, tenant: str) -> Path:
    return settings.data_dir if tenant == DEFAULT_TENANT else settings.data_dir / "tenants" / tenant


def _vector_store(settings: Settings, tenant: str, dim: int) -> VectorStore:
    """The tenant's vector store: on a Milvus server a collection of its own; on Milvus Lite a file
    in the tenant's directory."""
    from recalld.vector.milvus import MilvusVectorStore

    v = settings.vector
    own = tenant != DEFAULT_TENANT
    uri = settings.milvus_uri
    collection = v.collection
    if own and v.is_server:
        collection = f"{collection}__{tenant.replace('-', '_')}"  # tenant ids have no "_": no collisions
    elif own:
        uri = str(_tenant_dir(settings, tenant) / "milvus.db")
    return MilvusVectorStore(
        uri=uri,
        token=v.token,
        dim=dim,
        collection=collection,
        index_type=v.effective_index.value,
        flush_rows=v.effective_flush_rows,
        user_buckets=v.user_buckets,
        consistency_level=v.consistency.value,
        lite_process=v.lite_process,
        fast_search=v.lite_fast_search,
    )


def _embedder(settings: Settings, closers: list[Closer]) -> Embedder:
    if settings.embedder.kind is EmbedderKind.OPENAI:
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
        client = make_client(endpoint)
        closers.append(client.close)
        return OpenAIEmbedder(client, model=e.model, dim=e.dim)
    from recalld.vector.embedders import MiniLMOnnxEmbedder

    return MiniLMOnnxEmbedder(threads=settings.embedder.threads)


def _llm_parts(
    settings: Settings, spacy: Extractor, closers: list[Closer]
) -> tuple[Extractor, Judge | None, typing.Callable[[], dict[str, int]] | None]:
    """The extractor (the LLM one over ``spacy`` as its fallback, or spaCy), the judge, and a
    reader of the LLM path's counters."""
    wants_llm = settings.extractor is ExtractorKind.LLM or settings.truth.judge is JudgeKind.LLM
    if not wants_llm:
        return spacy, None, None
    from recalld.llm.extractor import LLMExtractor
    from recalld.llm.judge import LLMJudge
    from recalld.llm.structured import StructuredClient, make_client

    client = make_client(settings.llm)
    closers.append(client.close)
    structured = StructuredClient(client, settings.llm)
    log.info(
        "LLM path: model %s at %s (extraction: %s, reconciliation judge: %s)",
        settings.llm.model,
        settings.llm.base_url or "api.openai.com",
        settings.extractor.value,
        settings.truth.judge.value,
    )
    llm_extractor = LLMExtractor(structured, spacy) if settings.extractor is ExtractorKind.LLM else None
    judge = LLMJudge(structured) if settings.truth.judge is JudgeKind.LLM else None

    def stats() -> dict[str, int]:
        out = {f"client_{k}": v for k, v in structured.stats.items()}
        out |= {f"extraction_{k}": v for k, v in (llm_extractor.stats if llm_extractor else {}).items()}
        out |= {f"judge_{k}": v for k, v in (judge.stats if judge else {}).items()}
        return out

    return llm_extractor or spacy, judge, stats


@dataclass(frozen=True)
class ModelParts:
    """The models every tenant shares: the embedder and the extractor (instrumented), the
    reconciliation judge, the LLM path's counters and the model worker process (when one runs)."""

    embedder: Embedder
    extractor: Extractor
    judge: Judge | None
    llm_stats: typing.Callable[[], dict[str, int]] | None
    process: ModelProcess | None
    closers: tuple[Closer, ...] = ()  # the endpoints' HTTP clients


def _model_parts(
    settings: Settings, metrics: Metrics, embedder: Embedder | None, extractor: Extractor | None
) -> ModelParts:
    """The models from settings; a passed ``embedder``/``extractor`` is used instead of loading one."""
    from recalld.extraction.spacy import SpacyExtractor

    traced = settings.tracing is not Tracing.OFF
    process = None
    closers: list[Closer] = []
    own_minilm = embedder is None and settings.embedder.kind is EmbedderKind.MINILM
    if settings.model_process and (extractor is None or own_minilm):
        process = ModelProcess(spacy_model=settings.spacy_model, threads=settings.embedder.threads)
        if extractor is None:
            extractor = ProcessExtractor(process)
        if own_minilm:
            embedder = ProcessEmbedder(process)
    embedder = embedder or _embedder(settings, closers)
    if settings.embedder.batch > 0:
        embedder = BatchingEmbedder(embedder, max_texts=settings.embedder.batch)
    embedder = instrument(embedder, "embedder", metrics, traced=traced)
    extractor = extractor or SpacyExtractor(model=settings.spacy_model)
    extractor, judge, llm_stats = _llm_parts(settings, extractor, closers)
    extractor = instrument(extractor, "extractor", metrics, traced=traced)
    return ModelParts(embedder, extractor, judge, llm_stats, process, tuple(closers))


def _build_tenant(settings: Settings, models: ModelParts, metrics: Metrics, tenant: str) -> Tenant:
    """One tenant's stores (in its own directory, database or collection) and the services over them."""
    traced = settings.tracing is not Tracing.OFF
    embedder, extractor = models.embedder, models.extractor
    _tenant_dir(settings, tenant).mkdir(parents=True, exist_ok=True)
    graph = instrument(_graph_store(settings, tenant), "graph", metrics, traced=traced)
    vector = instrument(_vector_store(settings, tenant, embedder.dim), "vector", metrics, traced=traced)
    indexer = Indexer(graph=graph, vector=vector, embedder=embedder)
    fence = ScopeFence()
    limits = settings.limits
    if tenant in settings.tenant.max_memories_per_user:
        limits = replace(limits, max_memories_per_user=int(settings.tenant.max_memories_per_user[tenant]))
    memories = MemoryPipeline(
        graph=graph,
        vector=vector,
        embedder=embedder,
        extractor=extractor,
        indexer=indexer,
        limits=limits,
        reconcile=settings.truth,
        session_ttl=timedelta(seconds=settings.session_ttl_s) if settings.session_ttl_s > 0 else None,
        judge=models.judge,
        fence=fence,
    )
    return Tenant(
        name=tenant,
        graph=graph,
        vector=vector,
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
            exclusive=GraphBackend(settings.graph.backend) is GraphBackend.EMBEDDED,
        ),
        sharing=Sharing(graph=graph),
        eraser=Eraser(graph=graph, vector=vector, fence=fence),
    )


def build_app(settings: Settings, *, embedder: Embedder | None = None, extractor: Extractor | None = None) -> App:
    """Everything wired from settings. ``embedder``/``extractor`` may be passed in
    to share one loaded model between several apps (tests, benchmarks)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()
    models = _model_parts(settings, metrics, embedder, extractor)

    def build(tenant: str) -> Tenant:
        return _build_tenant(settings, models, metrics, tenant)

    default = build(DEFAULT_TENANT)
    control: CredentialStore = default.graph
    return App(
        settings=settings,
        embedder=models.embedder,
        extractor=models.extractor,
        tenants=Tenants(default, build, control),
        metrics=metrics,
        llm_stats=models.llm_stats,
        models=models.process,
        closers=models.closers,
    )
