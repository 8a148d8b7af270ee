"""Bulk import throughput over real gRPC against a real `recalld serve` (embedded defaults).

    python -m bench.importing [--messages 1451] [--batch 64] [--source locomo|synthetic]

Streams the LoCoMo dev turns (each turn an item: speaker, session date, dia_id; repeated with new
source ids past the 1,451 turns) or synthetic first-person sentences (bench.latency) through the
client's ``import_items``, once with extraction (infer=true) and once stored as-is
(infer=false), each into a fresh user; then re-sends the infer=false stream (all skipped).
Writes bench/results/import-embedded-<date>.md with messages/s, memories written, the server's
RSS, the machine and the other load on it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.latency import machine_lines, rss_mb, sentence
from bench.locomo import DEFAULT_DATA as LOCOMO
from recalld.client import Recalld
from recalld.server.import_files import read_locomo
from tests.harness import ServerProcess

RESULTS = Path(__file__).parent / "results"
TARGETS = {True: 500.0, False: 1500.0}


def items(source: str, n: int, user: str, infer: bool) -> list[dict[str, Any]]:
    if source == "locomo":
        turns = read_locomo(str(LOCOMO), {"user_id": user})
        out = []
        for i in range(n):
            t = dict(turns[i % len(turns)])
            t["source_id"] = f"{t['source_id']}#{i // len(turns)}"
            t["infer"] = infer
            out.append(t)
        return out
    r = random.Random(7)
    return [{"source_id": f"synthetic:{i}", "user_id": user, "content": sentence(r), "infer": infer} for i in range(n)]


def other_load() -> str:
    """The load average and the busiest processes that are not this benchmark's."""
    mine = {os.getpid()}
    ps = subprocess.run(["ps", "-eo", "pid,ppid,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
    rows = []
    for line in ps.splitlines()[1:]:
        pid, ppid, cpu, args = line.split(None, 3)
        if int(pid) in mine or int(ppid) in mine or float(cpu) < 5.0 or args.startswith("ps "):
            continue
        rows.append(f"{cpu}% {args[:70]}")
    la = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"load average {la}; other processes above 5% CPU: " + ("; ".join(rows[:5]) or "none")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the server and its children (the model worker, Milvus Lite)
    have used."""
    from bench.busy import _cpu_s, tree

    return sum(_cpu_s(p) for p in tree(pid))


def run(client: Recalld, stream: list[dict[str, Any]], batch: int, pid: int) -> tuple[float, float, Any]:
    """(wall seconds, server CPU seconds, result) of one import."""
    t0, c0 = time.perf_counter(), cpu_s(pid)
    result = client.import_items(iter(stream), batch=batch, timeout=3600)
    return time.perf_counter() - t0, cpu_s(pid) - c0, result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1451)
    ap.add_argument("--batch", type=int, default=64, help="items per ImportRequest")
    ap.add_argument("--source", choices=("locomo", "synthetic"), default="locomo")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    now = datetime.now(UTC)
    out = args.out or RESULTS / f"import-embedded-{now:%Y-%m-%d}.md"
    rows: list[str] = []
    loads: list[str] = [f"before: {other_load()}"]
    with tempfile.TemporaryDirectory(prefix="recalld-import-") as tmp:
        server = ServerProcess(Path(tmp) / "data").start()
        try:
            with Recalld(server.address) as client:
                client.import_items([{"source_id": "warm", "user_id": "warm", "content": "I like tea."}])
                runs: list[tuple[str, bool, list[dict[str, Any]]]] = [
                    ("infer=true", True, items(args.source, args.messages, "imp-infer", True)),
                    ("infer=false", False, items(args.source, args.messages, "imp-raw", False)),
                ]
                for label, infer, stream in runs:
                    seconds, cpu, r = run(client, stream, args.batch, server.pid)
                    rows.append(
                        f"| {label} | {r.received} | {r.imported} | {r.memories_written} | {seconds:.1f} | "
                        f"{r.imported / seconds:.0f} | {cpu:.1f} | {r.imported / cpu:.0f} | {TARGETS[infer]:.0f} | "
                        f"{rss_mb(server.pid):.0f} |"
                    )
                    loads.append(f"after {label}: {other_load()}")
                    print(rows[-1], flush=True)
                seconds, cpu, r = run(client, runs[1][2], args.batch, server.pid)
                rows.append(
                    f"| infer=false re-sent | {r.received} | {r.imported} (skipped {r.skipped_duplicates}) | "
                    f"{r.memories_written} | {seconds:.1f} | {r.received / seconds:.0f} | {cpu:.1f} | "
                    f"{r.received / max(cpu, 0.01):.0f} | - | {rss_mb(server.pid):.0f} |"
                )
                print(rows[-1], flush=True)
                verify = client.verify()
        finally:
            server.stop()
    lines = [
        "# Bulk import (Import RPC), embedded defaults",
        "",
        *machine_lines(now),
        f"- command: `.venv/bin/python -m bench.importing --messages {args.messages} --batch {args.batch} "
        f"--source {args.source}`",
        f"- source: {'LoCoMo dev turns (speaker, session date, dia_id)' if args.source == 'locomo' else 'synthetic'}"
        f"; one message per item; server: `recalld serve` on SQLite + Milvus Lite, spaCy + MiniLM int8",
        f"- verify after the runs: consistent={verify.consistent}, {verify.memories} memories, "
        f"{verify.vectors} vectors",
        "- other load on the machine (shared with other engineers' tests and benchmarks):",
        *(f"  - {x}" for x in loads),
        "",
        "| run | items | imported | memories written | seconds | messages/s | server CPU s | messages per "
        "server CPU s (all recalld processes) | target/s | server RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(json.dumps({"written": str(out)}))


if __name__ == "__main__":
    main()
