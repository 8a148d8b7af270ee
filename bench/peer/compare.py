"""The peer table in one run: mem0 on Qdrant (its default local store) and on Milvus Lite, and
recalld on its defaults, on the same data and the same embedder.

    .venv/bin/python -m bench.peer.compare [--memories 2000] [--users 20] [--samples 200]
        [--concurrency 8,32] [--conc-seconds 15] [--conc-warmup 3] [--out FILE]

1. installs mem0ai (with qdrant-client, a dependency of its core install) into its own
   venv (bench/.work/mem0-venv; see install.py; skipped when already there);
2. generates one synthetic data set with bench.latency's sentence generator:
   N first-person sentences (each made unique with " Note i.", so recalld's
   exact-duplicate check never turns an Add into a NOOP) over U users, round-robin,
   and S (user, query) pairs from bench.latency.QUERIES;
3. mem0 twice, each in a fresh process of the mem0 venv (bench/peer/mem0_runner.py:
   in-process ``Memory``, recalld's MiniLM int8 ONNX embedder, infer=False, no LLM call):
   on Qdrant as mem0 sets it up by default for local use (qdrant-client local mode,
   ``path=...``), then on Milvus Lite;
4. recalld: a real ``recalld serve`` process on its defaults (SQLite graph store +
   Milvus Lite), over gRPC, one sentence per Add with infer=false, the same users;
   Search with limit 10 in HYBRID (the default) and VECTOR mode, same pairs;
5. for every system: Add and Search latency one request at a time, then Search-only
   throughput and latency at each ``--concurrency`` level (mem0: threads calling
   ``Memory.search`` in its process; recalld: asyncio tasks sharing one gRPC channel in
   this process), and the RSS of the process(es) serving;
6. writes ``--out`` (default bench/results/peer-<date>.md).

Every system gets the same 5 warm-up adds (a separate user) and 20 warm-up searches, not
counted; each concurrency level has ``--conc-warmup`` uncounted seconds before its window
(bench/peer/common.py). Both embedders get the same onnxruntime thread count (``--threads``,
default: recalld's default, 2).

A full run at the defaults is expected to take about 7 minutes on 2 quiet cores (8 concurrency
windows of 18 s, ~6,000 Adds, mem0 on Milvus Lite's slow searches); it took 20 minutes at load
average 12 on a shared machine. ``--memories 300 --samples 50 --conc-seconds 4 --conc-warmup 1
--out /tmp/peer.md`` proves the code (about 4 minutes at that load).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata as md
import json
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.latency import QUERIES, sentence
from bench.peer import install
from bench.peer.common import rss, run_tasks, stats
from recalld.client import AddResult, AsyncRecalld, Mode, Recalld, RetryPolicy, SearchHit
from recalld.server.config import Settings
from tests.harness import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
RUNNER = Path(__file__).resolve().parent / "mem0_runner.py"
WARMUP_ADDS = 5
WARMUP_SEARCHES = 20
DEFAULT_THREADS = Settings().embedder.threads
MODES: tuple[Mode, ...] = ("hybrid", "vector")


def make_data(memories: int, users: int, samples: int, seed: int, limit: int) -> dict[str, object]:
    r = random.Random(seed)
    adds = [[f"user-{i % users:04d}", f"{sentence(r)} Note {i}."] for i in range(memories)]
    warmup_adds = [["warmup-user", f"{sentence(r)} Warm-up {i}."] for i in range(WARMUP_ADDS)]

    def pairs(n: int) -> list[list[str]]:
        return [[f"user-{r.randrange(users):04d}", r.choice(QUERIES)] for _ in range(n)]

    return {"limit": limit, "warmup_adds": warmup_adds, "adds": adds,
            "warmup_searches": pairs(WARMUP_SEARCHES), "searches": pairs(samples)}  # fmt: skip


def run_mem0(store: str, data_path: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    out = work / f"mem0-{store}-result.json"
    log = work / f"mem0-{store}-runner.log"
    cmd = [str(install.python()), str(RUNNER), "--store", store, "--data", str(data_path),
           "--workdir", str(work / f"mem0-{store}"), "--out", str(out), "--threads", str(args.threads),
           "--concurrency", args.concurrency, "--conc-seconds", str(args.conc_seconds),
           "--conc-warmup", str(args.conc_warmup)]  # fmt: skip
    with log.open("w") as f:
        rc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        raise RuntimeError(f"mem0 runner ({store}) failed ({rc}):\n{log.read_text(errors='replace')[-4000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    result["log_warnings"] = sorted(
        {
            ln.strip()
            for ln in log.read_text(errors="replace").splitlines()
            if "WARN" in ln.upper() or "not installed" in ln
        }
    )
    return result


def timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return (time.perf_counter() - t) * 1000


def run_recalld(data: dict[str, Any], work: Path, args: argparse.Namespace) -> dict[str, Any]:
    # recalld's defaults; the thread count is only set when it is not the default.
    env = {} if args.threads == DEFAULT_THREADS else {"RECALLD_EMBEDDER_THREADS": str(args.threads)}
    limit = int(data["limit"])
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    with ServerProcess(work / "recalld-data", env=env) as server:
        client = Recalld(server.address)
        ch = grpc.insecure_channel(server.address)  # the bare transport, for the round-trip baseline
        health = health_pb2_grpc.HealthStub(ch)
        rss_start = rss(server.pid)

        def add(user: str, text: str) -> AddResult:
            return client.add(text, user_id=user, infer=False, timeout=60)

        def search(user: str, query: str, mode: Mode) -> list[SearchHit]:
            return client.search(query, user_id=user, limit=limit, mode=mode, timeout=60)

        for user, text in data["warmup_adds"]:
            add(user, text)
        add_ms: list[float] = []
        added = 0
        t_load = time.perf_counter()
        for user, text in data["adds"]:
            t = time.perf_counter()
            result = add(user, text)
            add_ms.append((time.perf_counter() - t) * 1000)
            added += len(result.added)
        load_s = time.perf_counter() - t_load
        rss_loaded = rss(server.pid)

        for user, query in data["warmup_searches"]:
            search(user, query, "hybrid")
        modes: dict[str, dict[str, Any]] = {}
        for name in MODES:
            ms: list[float] = []
            hits: list[list[str]] = []
            graph_found = total = 0
            for user, query in data["searches"]:
                t = time.perf_counter()
                found = search(user, query, name)
                ms.append((time.perf_counter() - t) * 1000)
                hits.append([h.memory.text for h in found])
                total += len(found)
                graph_found += sum(1 for h in found if "graph" in h.retrievers)
            modes[name] = {"search": stats(ms), "search_ms": ms, "hits": hits, "concurrency": [],
                           "mean_hits": statistics.fmean(len(h) for h in hits),
                           "graph_share": graph_found / total if total else 0.0}  # fmt: skip

        async def concurrent() -> None:
            # One channel shared by every task (gRPC multiplexes the calls over it), as an
            # application's client would; no retries, so an error is counted, not hidden.
            async with AsyncRecalld(server.address, timeout=60, retry=RetryPolicy(attempts=1)) as aclient:
                for name in MODES:
                    for clients in levels:

                        async def call(user: str, query: str, mode: Mode = name) -> object:
                            return await aclient.search(query, user_id=user, limit=limit, mode=mode)

                        level = await run_tasks(call, data["searches"], clients, args.conc_seconds, args.conc_warmup)
                        print(f"recalld {name}: {clients} clients: {level['rps']:.1f} searches/s, "
                              f"p50 {level['latency']['p50']:.1f} ms, errors {level['errors']}", flush=True)  # type: ignore[index]  # fmt: skip
                        modes[name]["concurrency"].append(level)

        asyncio.run(concurrent())
        rss_end = rss(server.pid)

        # The bare gRPC round trip (Health/Check on the same channel): the transport's share.
        for _ in range(20):
            health.Check(health_pb2.HealthCheckRequest(service=""))
        rtt = [timed(lambda: health.Check(health_pb2.HealthCheckRequest(service=""))) for _ in range(200)]
        ch.close()
        client.close()
        profile = None
        if not args.no_profile:
            print("recalld: py-spy pass over the HYBRID searches (untimed) ...", flush=True)
            profile = profile_recalld(server.pid, data["searches"], server.address, limit, "hybrid",
                                      work / "recalld-pyspy.txt")  # fmt: skip
    return {"system": "recalld", "profile": profile, "added": added, "load_s": load_s, "add_rate_per_s": added / load_s,
            "add_ms": add_ms, "add": stats(add_ms), "modes": modes, "grpc_rtt": stats(rtt),
            "rss": {"start": rss_start, "loaded": rss_loaded, "end": rss_end}}  # fmt: skip


def overlap(a: list[list[str]], b: list[list[str]]) -> tuple[float, float]:
    """Mean |A ∩ B| / max(|A|, |B|) over the searches, and the share with the same top hit."""
    ov = [len(set(x) & set(y)) / max(len(x), len(y)) for x, y in zip(a, b, strict=True) if x or y]
    top = [bool(x and y and x[0] == y[0]) for x, y in zip(a, b, strict=True)]
    return (statistics.fmean(ov) if ov else 1.0), statistics.fmean(top)


def git_commit() -> str:
    """HEAD's commit, read from .git (no git process)."""
    git = ROOT / ".git"
    try:
        if git.is_file():  # worktree: "gitdir: <path>"
            git = Path(git.read_text().split(":", 1)[1].strip())
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:7]
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()[:7]
        common = Path((git / "commondir").read_text().strip()) if (git / "commondir").exists() else git
        common = common if common.is_absolute() else git / common
        for base in (common,):
            if (base / ref).exists():
                return (base / ref).read_text().strip()[:7]
            packed = base / "packed-refs"
            if packed.exists():
                for ln in packed.read_text().splitlines():
                    if ln.endswith(" " + ref):
                        return ln.split()[0][:7]
    except OSError:
        pass
    return "unknown"


def version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    for ln in Path("/proc/cpuinfo").read_text().splitlines():
        if ln.startswith("model name"):
            return ln.split(":", 1)[1].strip()
    return platform.processor()


def profile_recalld(server_pid: int, searches: list[list[str]], address: str, limit: int, mode: Mode,
                    out: Path) -> dict[str, Any]:  # fmt: skip
    """py-spy samples the server while it answers ``searches`` once more, one at a time (an
    extra pass after every timed phase, so the sampling never touches a reported number).
    Returns the top frames: inclusive share of recalld's own functions, and self share of all."""
    spy = Path(sys.executable).with_name("py-spy")
    proc = subprocess.Popen([str(spy), "record", "--pid", str(server_pid), "--rate", "250", "--format", "raw",
                             "--output", str(out), "--nonblocking", "--full-filenames"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    time.sleep(1.0)
    with Recalld(address) as client:
        for _ in range(2):
            for user, query in searches:
                client.search(query, user_id=user, limit=limit, mode=mode, timeout=60)
    proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"error": "py-spy did not stop"}
    if not out.exists():
        return {"error": (err or b"").decode(errors="replace")[-400:]}
    total = 0
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    for line in out.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = []  # py-spy raw frames: "function (path/to/file.py:line)"
        for f in stack.split(";"):
            func, _, where = f.partition(" (")
            path = where.rsplit(":", 1)[0]
            frames.append((f"{func} ({path.rsplit('/recalld/', 1)[-1].rsplit('site-packages/', 1)[-1]})", path))
        own[frames[-1][0]] = own.get(frames[-1][0], 0) + count
        ours = {name for name, path in frames if path.startswith(str(ROOT)) and "site-packages" not in path}
        for name in ours:
            inclusive[name] = inclusive.get(name, 0) + count
    top = sorted(inclusive.items(), key=lambda kv: -kv[1])[:12]
    top_own = sorted(own.items(), key=lambda kv: -kv[1])[:12]
    return {"samples": total, "inclusive": [(k, v / total) for k, v in top] if total else [],
            "self": [(k, v / total) for k, v in top_own] if total else []}  # fmt: skip


def f1(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.1f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and a == a and b == b else "-"  # x == x: not NaN


def level_of(levels: list[dict[str, Any]], clients: int) -> dict[str, Any] | None:
    return next((lv for lv in levels if lv["clients"] == clients), None)


def ahead(rec: float, peer: float) -> str:
    if rec < peer:
        return f"recalld ahead by {peer - rec:.1f} ms ({(1 - rec / peer):.0%} less)"
    return f"recalld behind by {rec - peer:.1f} ms ({(rec / peer - 1):.0%} more)"


def report(args: argparse.Namespace, inst: dict[str, Any], mq: dict[str, Any], mm: dict[str, Any],
           rec: dict[str, Any], prof: dict[str, Any] | None, load_before: tuple[float, ...],
           load_after: tuple[float, ...], wall_s: float) -> str:  # fmt: skip
    now = datetime.now(UTC)
    cmd = "python -m bench.peer.compare " + " ".join(
        f"--{k.replace('_', '-')} {shlex.quote(str(v))}" if not isinstance(v, bool) else f"--{k.replace('_', '-')}"
        for k, v in vars(args).items()
        if v is not False and v is not None
    )
    hyb, vec = rec["modes"]["hybrid"], rec["modes"]["vector"]
    cols = [mq, mm, hyb, vec]  # search-bearing dicts: "search" and "concurrency" in each
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    mv = mq["versions"]
    n, u = args.memories, args.users
    head = ("| | mem0 + Qdrant (mem0's default local store) | mem0 + Milvus Lite | recalld HYBRID (default) "
            "| recalld VECTOR | recalld HYBRID / mem0 + Qdrant |")  # fmt: skip
    rows = [head, "|---|---:|---:|---:|---:|---:|"]

    def row(label: str, vals: list[float | None], r: str) -> None:
        rows.append(f"| {label} | {' | '.join(f1(v) for v in vals)} | {r} |")

    for k in ("p50", "p95", "p99"):
        row(f"Add {k}, ms (one at a time)", [mq["add"][k], mm["add"][k], rec["add"][k], None],
            ratio(rec["add"][k], mq["add"][k]))  # fmt: skip
    row("Bulk load, memories/s (the timed Adds back to back)",
        [mq["add_rate_per_s"], mm["add_rate_per_s"], rec["add_rate_per_s"], None],
        ratio(rec["add_rate_per_s"], mq["add_rate_per_s"]))  # fmt: skip
    for k in ("p50", "p95", "p99"):
        row(f"**Search {k}, ms** (one at a time)", [c["search"][k] for c in cols],
            ratio(hyb["search"][k], mq["search"][k]))  # fmt: skip
    for clients in levels:
        lv = [level_of(c["concurrency"], clients) for c in cols]
        row(f"Search, {clients} clients: searches/s", [x["rps"] if x else None for x in lv],
            ratio(lv[2]["rps"], lv[0]["rps"]) if lv[0] and lv[2] else "-")  # fmt: skip
        for k in ("p50", "p95", "p99"):
            row(f"Search, {clients} clients: {k}, ms", [x["latency"][k] if x else None for x in lv],
                ratio(lv[2]["latency"][k], lv[0]["latency"][k]) if lv[0] and lv[2] else "-")  # fmt: skip
    for label, key in (("after the Adds", "loaded"), ("at the end", "end")):
        row(f"RSS {label}, MB", [mq["rss"][key]["rss_mb"], mm["rss"][key]["rss_mb"], rec["rss"][key]["rss_mb"], None],
            ratio(rec["rss"][key]["rss_mb"], mq["rss"][key]["rss_mb"]))  # fmt: skip
    row("peak RSS (VmHWM), MB", [mq["rss"]["end"]["peak_mb"], mm["rss"]["end"]["peak_mb"],
                                rec["rss"]["end"]["peak_mb"], None],
        ratio(rec["rss"]["end"]["peak_mb"], mq["rss"]["end"]["peak_mb"]))  # fmt: skip
    if mm.get("search_flushed"):
        fl = mm["search_flushed"]
        rows.append(f"| *Search p50 / p95, mem0 + Milvus Lite after one explicit flush (mem0 never flushes)* | "
                    f"| *{fl['p50']:.1f} / {fl['p95']:.1f}* | | | |")  # fmt: skip

    named = (("mem0 + Qdrant", mq), ("mem0 + Milvus Lite", mm), ("recalld HYBRID", hyb), ("recalld VECTOR", vec))
    errors = {name: sum(lv["errors"] for lv in c["concurrency"]) for name, c in named}
    thin = [f"{name} at {lv['clients']} clients ({lv['requests']})" for name, c in named for lv in c["concurrency"]
            if lv["requests"] < 20]  # fmt: skip
    met = [hyb["search"][k] < mq["search"][k] for k in ("p50", "p95")]
    verdict = "MET" if all(met) else "NOT MET"
    reading = [
        f"- **Target** (recalld ahead of mem0 on its own default store at p50 and p95, side by side): **{verdict}** "
        f"for Search in recalld's default mode. HYBRID vs mem0 + Qdrant: p50 {hyb['search']['p50']:.1f} vs "
        f"{mq['search']['p50']:.1f} ms, {ahead(hyb['search']['p50'], mq['search']['p50'])}; p95 "
        f"{hyb['search']['p95']:.1f} vs {mq['search']['p95']:.1f} ms, "
        f"{ahead(hyb['search']['p95'], mq['search']['p95'])}. "
        f"VECTOR: p50 {ahead(vec['search']['p50'], mq['search']['p50'])}, p95 "
        f"{ahead(vec['search']['p95'], mq['search']['p95'])}.",
        f"- Add (one at a time) vs mem0 + Qdrant: p50 {rec['add']['p50']:.1f} vs {mq['add']['p50']:.1f} ms, "
        f"{ahead(rec['add']['p50'], mq['add']['p50'])}; p95 {rec['add']['p95']:.1f} vs {mq['add']['p95']:.1f} ms, "
        f"{ahead(rec['add']['p95'], mq['add']['p95'])}.",
        f"- mem0 + Milvus Lite (the store of the earlier table) vs mem0 + Qdrant: Search p50 "
        f"{mm['search']['p50']:.1f} vs {mq['search']['p50']:.1f} ms, so the earlier table compared recalld with "
        "mem0 at its slowest; this table's reference column is Qdrant.",
        "- Concurrency on 2 cores: once both cores are busy, more clients mostly queue (latency grows about "
        "with the client count, throughput little), and in recalld's case the bench client's own gRPC work "
        "shares those cores with the server.",
    ]
    for clients in levels:
        a, b = level_of(hyb["concurrency"], clients), level_of(mq["concurrency"], clients)
        if a and b and a["requests"] and b["requests"]:
            reading.append(
                f"- {clients} concurrent clients, Search only: recalld HYBRID {a['rps']:.1f} searches/s "
                f"(p50 {a['latency']['p50']:.0f} ms) vs mem0 + Qdrant {b['rps']:.1f} "
                f"(p50 {b['latency']['p50']:.0f} ms): {ratio(a['rps'], b['rps'])}x the throughput."
            )
    mparts = ", ".join(f"{k} {v:.1f}" for k, v in mq["search_parts_p50"].items())
    reading += [
        f"- Where mem0 + Qdrant's search time goes (p50 per part, ms): {mparts} (embed = recalld's embedder; "
        "dense = qdrant-client local mode's `query_points`, a brute-force numpy scan with the user filter "
        "evaluated in Python over every point; bm25 = the keyword search, a no-op here: it needs fastembed). "
        "Milvus Lite: " + ", ".join(f"{k} {v:.1f}" for k, v in mm["search_parts_p50"].items()) + ".",
        f"- gRPC round trip alone (Health/Check, same channel): p50 {rec['grpc_rtt']['p50']:.2f} ms, p99 "
        f"{rec['grpc_rtt']['p99']:.2f} ms: part of every recalld number and of none of mem0's.",
    ]
    if prof and prof.get("samples"):
        reading.append(
            f"- Where recalld's HYBRID search time goes (py-spy on the server, {prof['samples']} samples over an "
            "extra, untimed pass of the same searches; share of the server's busy samples). recalld's own functions, "
            "inclusive: " + "; ".join(f"`{k}` {v:.0%}" for k, v in prof["inclusive"][:8]) + ". Hottest leaves "
            "(self time): " + "; ".join(f"`{k}` {v:.0%}" for k, v in prof["self"][:8]) + "."
        )
    elif prof:
        reading.append(f"- py-spy profile of the server failed: {prof.get('error')}")

    lines = [
        f"# Peer table: recalld vs mem0 on Qdrant (mem0's default) and on Milvus Lite, {n} memories",
        "",
        f"- date: {now:%Y-%m-%d %H:%M} UTC; commit {git_commit()}",
        f"- machine: {os.cpu_count()} cores ({cpu_model()}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} (mem0 venv: Python {mq['python']}); shared machine, load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after",
        f"- command: `{cmd}` (wall time {wall_s:.0f} s)",
        f"- data: {n} synthetic first-person sentences from `bench.latency.sentence` (each ends in a unique "
        f'"Note i."), round-robin over {u} users (~{n // u}/user); {args.samples} searches, (user, query) pairs '
        f"drawn from `bench.latency.QUERIES`, limit {args.limit}, filtered by user; identical for every system; "
        f"{WARMUP_ADDS} warm-up adds (separate user) and {WARMUP_SEARCHES} warm-up searches not counted",
        f"- concurrency: Search only (no Adds mixed in), {args.concurrency} clients, each level a "
        f"{args.conc_seconds:g} s window after {args.conc_warmup:g} s uncounted; each client loops over the same "
        "search pairs, one request after the other; a request counts when it completes inside the window",
        f"- embedder, every system: recalld's int8 ONNX all-MiniLM-L6-v2 on {args.threads} onnxruntime threads "
        "(recalld's default); mem0: `add(text, user_id=..., infer=False)`, `search(query, "
        "filters={'user_id': ...}, top_k=10)`, no LLM call",
        f"- mem0 install ({install.VENV.relative_to(ROOT)}): {inst['action']}, {inst['seconds']:.1f} s; "
        f"pins `{' '.join(inst['requirements'])}`",
        "",
        "| env | mem0ai | qdrant-client | pymilvus | milvus-lite | onnxruntime | numpy | protobuf |",
        "|---|---|---|---|---|---|---|---|",
        f"| mem0 venv | {mv['mem0ai']} | {mv['qdrant-client']} | {mv['pymilvus']} | {mv['milvus-lite']} | "
        f"{mv['onnxruntime']} | {mv['numpy']} | {mv['protobuf']} |",
        f"| recalld venv | - | - | {version('pymilvus')} | {version('milvus-lite')} | {version('onnxruntime')} | "
        f"{version('numpy')} | {version('protobuf')} |",
        "",
        "**mem0 runs in-process, with no network hop; recalld serves over gRPC from another process.** Every "
        "recalld number below includes a protobuf + gRPC round trip over loopback and a second process; none of "
        "mem0's does (its concurrent clients are threads calling `Memory.search` inside mem0's own process). "
        "That favours mem0.",
        "",
        "## Side by side (ms, searches/s, MB; last column: below 1 is better for latency and RSS, above 1 for rates)",
        "",
        *rows,
        "",
        "## Reading",
        "",
        *reading,
        "",
        "## Sanity checks",
        "",
        f"- mem0 stayed offline: LLM calls {mq['llm_calls']} (Qdrant) / {mm['llm_calls']} (Milvus Lite); blocked "
        f"non-loopback connections or lookups {len(mq['blocked_network'])} / {len(mm['blocked_network'])}.",
        f"- mem0 really embeds with recalld's model: the vector mem0 stored for the first sentence has cosine "
        f"{mq['embedding_probe_cosine']:.6f} (Qdrant) / {mm['embedding_probe_cosine']:.6f} (Milvus Lite) with a "
        "fresh recalld embedding of it.",
        f"- mem0's stores: `{mq['vector_client']}` (local mode, path in the run's temp dir) and "
        f"`{mm['vector_client']}` (Milvus Lite .db); keyword (BM25) search active: Qdrant {mq['keyword_search']}, "
        f"Milvus Lite {mm['keyword_search']}.",
        "- same answers: "
        + "; ".join(
            f"{name} vs mem0 + Qdrant mean top-{args.limit} overlap {o:.2f}, same top hit {t:.0%}"
            for name, (o, t) in (
                ("mem0 + Milvus Lite", overlap(mq["hits"], mm["hits"])),
                ("recalld HYBRID", overlap(mq["hits"], hyb["hits"])),
                ("recalld VECTOR", overlap(mq["hits"], vec["hits"])),
            )
        )
        + f". Mean hits per search: mem0 + Qdrant {mq['mean_hits']:.1f}, mem0 + Milvus Lite "
        f"{mm['mean_hits']:.1f}, recalld HYBRID {hyb['mean_hits']:.1f}, VECTOR {vec['mean_hits']:.1f}; share of "
        f"HYBRID hits the graph retriever found: {hyb['graph_share']:.0%}.",
        "- errors in the concurrency phases: "
        + ", ".join(f"{k} {v}" for k, v in errors.items())
        + "."
        + (
            f" Levels with fewer than 20 requests completed in the window (their figures are thin; a longer "
            f"--conc-seconds fixes it): {', '.join(thin)}."
            if thin
            else ""
        ),
        f"- every Add added one memory: mem0 + Qdrant {mq['added']}, mem0 + Milvus Lite {mm['added']}, "
        f"recalld {rec['added']} of {n}. Slowest Add: {mq['add']['max']:.0f} / {mm['add']['max']:.0f} / "
        f"{rec['add']['max']:.0f} ms (recalld flushes Milvus Lite inside every 256th Add).",
        "",
        "## What differs (read before quoting a ratio)",
        "",
        "- **Process boundary** (above): it favours mem0. RSS: mem0's column is its whole process (mem0, the "
        "store, the embedder, and the client threads); recalld's is the `recalld serve` process alone (graph "
        "store, Milvus Lite, embedder, spaCy model), the bench client not counted.",
        "- **mem0 + Qdrant** is mem0's `QdrantConfig` default for local use: `QdrantClient(path=...)`, "
        "qdrant-client's *local mode*, which is not the Qdrant server but a pure-Python/numpy re-implementation "
        "inside the client: every point in memory, persisted to a SQLite file, each search a brute-force scan "
        "of all points with the payload filter checked in Python, point by point (no payload index in local mode: "
        "mem0 skips creating one), so its search time grows linearly with the whole collection, every user's "
        "memories included, and a figure for it holds only at this table's size. "
        "Without fastembed (mem0's `extras`; its BM25 model is fetched from a model hub at run "
        "time, not possible offline) mem0 turns keyword search off, so its Qdrant search is dense only.",
        '- **mem0 + Milvus Lite**: mem0 filters `metadata["user_id"]` on a JSON field, twice per search '
        "(dense and BM25 sparse), over the whole collection, and never flushes, so every row stays in the "
        "write buffer; the italic row flushes once to tell the engine's state from mem0's pipeline.",
        "- **recalld**: an Add (infer=false) is an exact-duplicate lookup, one SQLite transaction (episode, "
        "memory, history: the system of record), a Milvus Lite upsert into one of 64 user partitions, mark "
        "indexed, a flush every 256 rows. VECTOR search: embed + one filtered Milvus search in the user's "
        "partition + the memories read from SQLite. HYBRID adds spaCy on the query, graph walks and fusion; "
        "with infer=false no triples are stored, so the walks have little to follow (the graph share above).",
        "- **Not measured**: infer=True (mem0 would need an LLM), a Qdrant *server* (mem0's default is the "
        "local mode measured here), mixed Search/Add load.",
    ]
    warns = sorted({w for r in (mq, mm) for w in r.get("log_warnings", [])})
    if warns:
        lines += ["", "mem0 runner warnings (both stores):", "", *(f"    {w[:200]}" for w in warns[:10])]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memories", type=int, default=2000)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                    help=f"onnxruntime threads for every embedder (recalld's default: {DEFAULT_THREADS})")  # fmt: skip
    ap.add_argument("--concurrency", default="8,32", help="concurrent Search clients, comma-separated")
    ap.add_argument("--conc-seconds", type=float, default=15.0, help="measured window per concurrency level")
    ap.add_argument("--conc-warmup", type=float, default=3.0, help="uncounted seconds before each window")
    ap.add_argument("--no-profile", action="store_true", help="skip the py-spy pass over recalld's server")
    ap.add_argument("--out", type=Path, default=None, help="default: bench/results/peer-<date>.md")
    args = ap.parse_args()

    t_wall = time.perf_counter()
    inst = install.ensure()
    print(f"mem0 venv: {inst['action']} ({inst['seconds']:.1f} s)", flush=True)
    data = make_data(args.memories, args.users, args.samples, args.seed, args.limit)
    load_before = os.getloadavg()
    prof: dict[str, Any] | None
    with tempfile.TemporaryDirectory(prefix="peer-") as tmp:
        work = Path(tmp)
        data_path = work / "data.json"
        data_path.write_text(json.dumps(data))
        mem0: dict[str, dict[str, Any]] = {}
        for store in ("qdrant", "milvus"):
            print(f"mem0 + {store}: {args.memories} adds, {args.samples} searches, clients {args.concurrency} ...",
                  flush=True)  # fmt: skip
            mem0[store] = run_mem0(store, data_path, work, args)
            print(f"mem0 + {store}: add p50 {mem0[store]['add']['p50']:.1f} ms, "
                  f"search p50 {mem0[store]['search']['p50']:.1f} ms", flush=True)  # fmt: skip
        print(f"recalld: {args.memories} adds, {args.samples} x 2 searches, clients {args.concurrency} ...", flush=True)
        rec = run_recalld(data, work, args)
        prof = rec.get("profile")
        print(f"recalld: add p50 {rec['add']['p50']:.1f} ms, search p50 hybrid "
              f"{rec['modes']['hybrid']['search']['p50']:.1f} ms", flush=True)  # fmt: skip
    load_after = os.getloadavg()
    short = {k: v["added"] for k, v in mem0.items() if v["added"] != args.memories}
    if short or rec["added"] != args.memories:
        sys.exit(f"not every Add added a memory: mem0 {short}, recalld {rec['added']} of {args.memories}")
    text = report(args, inst, mem0["qdrant"], mem0["milvus"], rec, prof, load_before, load_after,
                  time.perf_counter() - t_wall)  # fmt: skip
    out = args.out or RESULTS / f"peer-{datetime.now(UTC):%Y-%m-%d}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
