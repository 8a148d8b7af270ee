"""What an operator sees: a short mixed load, then a scrape of /metrics.

    python -m bench.ops [--seconds 30] [--clients 8] [--backend embedded|falkordb+milvus]

A real `recalld serve` process with metrics and JSON logs on; ``--clients`` threads send 80%
Search / 20% Add (one sentence, extraction on) over 20 users for ``--seconds``, after a seed of
200 memories. Then /metrics is scraped and the recalld_* families are written, with the load's
throughput and latencies, to bench/results/metrics-scrape-<backend>-<date>.md.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from bench.latency import RESULTS, backend_env, load, machine_lines, pct, sentence
from recalld.client import Recalld
from tests.harness import ServerProcess, free_port

USERS = 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--backend", choices=("embedded", "falkordb+milvus"), default="embedded")
    a = ap.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        port = free_port()
        env = backend_env(a.backend, Path(tmp), stack) | {
            "RECALLD_METRICS_LISTEN": f"127.0.0.1:{port}",
            "RECALLD_LOG_FORMAT": "json",
            "RECALLD_RECONCILE_INTERVAL_S": "10",
        }
        server = stack.enter_context(ServerProcess(Path(tmp) / "data", env=env))
        with Recalld(server.address, timeout=120) as c:
            load(c, 200, USERS, random.Random(1))
        lat: dict[str, list[float]] = {"search": [], "add": []}
        lock = threading.Lock()
        deadline = time.monotonic() + a.seconds

        def client(n: int) -> None:
            r = random.Random(100 + n)
            with Recalld(server.address, timeout=120) as c:
                while time.monotonic() < deadline:
                    user = f"user-{r.randrange(USERS):04d}"
                    kind = "search" if r.random() < 0.8 else "add"
                    t0 = time.perf_counter()
                    if kind == "search":
                        c.search(sentence(r), user_id=user, limit=10)
                    else:
                        c.add(sentence(r), user_id=user)
                    with lock:
                        lat[kind].append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        time.sleep(6)  # one readiness pass (5 s) refreshes the gauges
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            scrape = r.read().decode()
    families = [ln for ln in scrape.splitlines() if "recalld_" in ln and not ln.startswith("# HELP")]
    kept = [ln for ln in families if not ln.split("{")[0].endswith("_created")]
    out = RESULTS / f"metrics-scrape-{a.backend}-{now:%Y-%m-%d}.md"
    lines = [
        f"# /metrics after a short load ({a.backend})",
        "",
        *machine_lines(now),
        f"- load: {a.clients} clients, 80% Search / 20% Add (extraction on), {USERS} users, "
        f"{a.seconds:g} s after a 200-memory seed (`python -m bench.ops --backend {a.backend}`)",
        "",
        "| | count | per s | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for kind, xs in lat.items():
        lines.append(
            f"| {kind} | {len(xs)} | {len(xs) / wall:.1f} | {pct(xs, 50):.1f} | {pct(xs, 95):.1f} | {pct(xs, 99):.1f} |"
        )
    lines += ["", "The recalld_* families of the scrape (`_created` timestamps left out):", "", "```", *kept, "```", ""]
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
