"""Every benchmark, one command: ``python -m bench`` (``make bench``).

Runs, each as its own process, writing its tables to bench/results/:
  1. bench.scale     latency/throughput/RSS at 1k, 10k, 100k memories (embedded stores) + plot
  2. bench.latency   Add/Search latency at 10k memories on FalkorDB + Milvus standalone servers
  3. bench.peer.compare  mem0 side by side (installs mem0 in its own venv)
  4. bench.locomo    retrieval quality on the LoCoMo dev slice
  5. bench.writes    Update/Delete latency and the concurrent Update+Update+Delete race (both backends)
  6. bench.evolution memory that stays true: 73 scripted conversations, reconciliation on vs off
  7. bench.locomo --ask-at end [--no-decay]: the recall cost of decay
  8. bench.async_add asynchronous Add under a burst of 1,000 Adds
  9. bench.tenants   two tenants, 32 clients, auth on, both backends; the Milvus fault run
 10. bench.ops       a /metrics scrape after a short load
 11. bench.importing the Import RPC: messages/s with and without extraction, resend
 12. bench.load      32 clients, 80/20 Search/Add on 1,400-memory scopes: embedded, FalkorDB + Milvus,
                     and 2 worker processes
 13. bench.peruser   Search cost at 100, 1,000, 10,000 memories in one user's scope
 14. bench.million   1M memories on FalkorDB + Milvus server (HNSW): load rate, latency, RSS, disk
                     (about an hour or more on 2 cores)
 15. bench.ablation  LoCoMo with each retriever on and off; fusion weights by cross-validation
 16. bench.plots     PNGs of the 1M, per-user and load tables (drawn from the Markdown results)
The container image's size and build time come from `make image` (bench/results/image-*.md).

``--quick`` shrinks every size (a smoke run, minutes instead of the better part of an hour).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import UTC, datetime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--only",
        choices=(
            "scale",
            "backends",
            "peer",
            "locomo",
            "writes",
            "writes-servers",
            "evolution",
            "decay",
            "decay-off",
            "async",
            "tenants",
            "tenants-embedded",
            "tenants-fault",
            "ops",
            "import",
            "load",
            "load-servers",
            "load-workers",
            "peruser",
            "million",
            "ablation",
            "plots",
        ),
        action="append",
    )
    args = ap.parse_args()
    quick = args.quick
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    runs = {
        "scale": ["bench.scale", "--sizes", "300,1000" if quick else "1000,10000,100000"]
        + (["--users", "50", "--samples", "30"] if quick else []),
        "backends": ["bench.latency", "--backend", "falkordb+milvus"]
        + (["--memories", "500", "--users", "10", "--samples", "30"] if quick else []),
        "peer": ["bench.peer.compare"]
        + (["--memories", "300", "--samples", "30", "--conc-seconds", "4", "--conc-warmup", "1"] if quick else []),
        "locomo": ["bench.locomo"],
        "writes": ["bench.writes"] + (["--memories", "300", "--samples", "30", "--race-rounds", "2"] if quick else []),
        "writes-servers": ["bench.writes", "--backend", "falkordb+milvus"]
        + (["--memories", "300", "--samples", "30", "--race-rounds", "2"] if quick else []),
        "evolution": ["bench.evolution"],
        "decay": [
            "bench.locomo",
            "--ask-at",
            "end",
            "--batch-size",
            "0",
            "--out",
            f"bench/results/locomo-{today}-decay-on.md",
        ],
        "decay-off": [
            "bench.locomo",
            "--ask-at",
            "end",
            "--no-decay",
            "--batch-size",
            "0",
            "--out",
            f"bench/results/locomo-{today}-decay-off.md",
        ],
        "async": ["bench.async_add"] + (["--adds", "100", "--clients", "4", "--users", "10"] if quick else []),
        "tenants": ["bench.tenants", "--backend", "falkordb+milvus"] + (["--seconds", "15"] if quick else []),
        "tenants-embedded": ["bench.tenants", "--backend", "embedded"] + (["--seconds", "15"] if quick else []),
        "tenants-fault": ["bench.tenants", "--backend", "falkordb+milvus", "--fault"]
        + (["--seconds", "30"] if quick else []),
        "ops": ["bench.ops"] + (["--seconds", "10"] if quick else []),
        "import": ["bench.importing"] + (["--messages", "200"] if quick else []),
        "load": ["bench.load"] + (["--seconds", "10", "--users", "2", "--per-user", "200"] if quick else []),
        "load-servers": ["bench.load", "--backend", "falkordb+milvus"]
        + (["--seconds", "10", "--users", "2", "--per-user", "200"] if quick else []),
        "load-workers": ["bench.load", "--backend", "falkordb+milvus", "--workers", "2"]
        + (["--seconds", "10", "--users", "2", "--per-user", "200"] if quick else []),
        "peruser": ["bench.peruser"] + (["--sizes", "100,500", "--samples", "30"] if quick else []),
        "million": ["bench.million"]  # defaults: 1M memories, checkpoints at 100k and 300k
        + (
            ["--memories", "5000", "--users", "50", "--large-size", "500", "--checkpoints", "1000", "--pool", "1000"]
            if quick
            else []
        ),
        "ablation": ["bench.ablation"]
        + (["--conversation", "conv-30", "--no-ablation", "--grid", "0.1"] if quick else []),
        "plots": ["bench.plots"],
    }
    failed = []
    for name, argv in runs.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name}: python -m {' '.join(argv)}", flush=True)
        if subprocess.run([sys.executable, "-m", *argv]).returncode != 0:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
