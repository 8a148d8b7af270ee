"""The vector stage alone on one large scope: Milvus Lite searches of one user's bucket.

    python -m bench.vector_one_scope [--memories 10000] [--queries 200] [--out PATH]

bench.vector_search replays LoCoMo-sized scopes (about 1,300 memories in a bucket); this one
fills a single user's scope with ``--memories`` random unit vectors (384 dimensions, the
embedded defaults: Milvus Lite in its child process, FLAT, 64 user buckets, a flush every 256
rows), then times ``VectorStore.search`` as the retriever calls it (50 candidates, the current
validity filter), one search at a time, client-side, after 20 warm-up searches. Random vectors
spread the scores evenly: the cost is the scan, not the data. Writes bench/results/
vector-one-scope-<date>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.checkout import ROOT, write_report
from bench.latency import machine_lines, pct
from recalld.kernel.domain import Scope
from recalld.kernel.ports import VectorRecord
from recalld.vector.milvus import MilvusVectorStore

CANDIDATES = 50


async def _run(memories: int, queries: int, path: Path) -> list[float]:
    store = MilvusVectorStore(uri=str(path / "milvus.db"), dim=384, flush_rows=256, user_buckets=64, lite_process=True)
    await store.open()
    try:
        rng = np.random.default_rng(7)
        scope = Scope(user_id="one-large-scope")
        now = datetime.now(UTC)
        for start in range(0, memories, 500):
            n = min(500, memories - start)
            vs = rng.standard_normal((n, 384)).astype(np.float32)
            vs /= np.linalg.norm(vs, axis=1, keepdims=True)
            await store.upsert([VectorRecord(f"m{start + j}", vs[j].tolist(), scope, now, {}) for j in range(n)])
        asked = rng.standard_normal((queries + 20, 384)).astype(np.float32)
        took: list[float] = []
        for i, q in enumerate(asked):
            t0 = time.perf_counter()
            hits = await store.search(q.tolist(), scope, CANDIDATES)
            if i >= 20:
                took.append((time.perf_counter() - t0) * 1000)
            assert len(hits) == CANDIDATES
        return took
    finally:
        await store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memories", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        took = asyncio.run(_run(args.memories, args.queries, Path(tmp)))
    now = datetime.now(UTC)
    lines = [
        f"# Vector search of one scope of {args.memories:,} memories (Milvus Lite, embedded defaults)",
        "",
        *machine_lines(now),
        f"- command: `python -m bench.vector_one_scope --memories {args.memories} --queries {args.queries}`",
        "",
        "| searches | p50 ms | p95 ms | p99 ms | mean ms |",
        "|---:|---:|---:|---:|---:|",
        f"| {len(took)} | {pct(took, 50):.2f} | {pct(took, 95):.2f} | {pct(took, 99):.2f} | "
        f"{statistics.fmean(took):.2f} |",
        "",
    ]
    out = args.out or ROOT / "bench" / "results" / f"vector-one-scope-{now:%Y-%m-%d}.md"
    write_report(lines, out, failed=False)


if __name__ == "__main__":
    main()
