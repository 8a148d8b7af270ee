"""Helpers shared by compare.py (recalld's venv) and mem0_runner.py (the mem0 venv): stdlib only.

The concurrency phase is the same for every system: ``clients`` workers start together,
each loops over the (user, query) pairs (worker i takes pairs i, i + clients, ...), one
request after the other, until the phase's deadline. The first ``warmup_s`` seconds are not
counted; a request counts when it *completes* inside the measured window
[start + warmup_s, start + warmup_s + seconds], and throughput is those requests over the
window's length (requests still running at the deadline are finished, not counted).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path


def pct(xs: Sequence[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def stats(xs: Sequence[float]) -> dict[str, float]:
    if not xs:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"),
                "mean": float("nan"), "max": float("nan")}  # fmt: skip
    return {"n": len(xs), "p50": pct(xs, 50), "p95": pct(xs, 95), "p99": pct(xs, 99),
            "mean": statistics.fmean(xs), "max": max(xs)}  # fmt: skip


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss(pid: int | None = None) -> dict[str, float]:
    """RSS now and peak RSS (VmHWM), in MB, of a process and its descendants (summed)."""
    pids = _tree(pid or os.getpid())
    return {
        "rss_mb": sum(_status_kb(p, "VmRSS") for p in pids) / 1024,
        "peak_mb": sum(_status_kb(p, "VmHWM") for p in pids) / 1024,
        "processes": len(pids),
    }


def _summarise(clients: int, done: list[tuple[float, float]], start: float, warmup_s: float, seconds: float,
               errors: list[str]) -> dict[str, object]:  # fmt: skip
    lo, hi = start + warmup_s, start + warmup_s + seconds
    ms = [lat for end, lat in done if lo <= end <= hi]
    return {"clients": clients, "window_s": seconds, "requests": len(ms), "rps": len(ms) / seconds,
            "latency": stats(ms), "errors": len(errors), "first_errors": errors[:3]}  # fmt: skip


def run_threads(call: Callable[[str, str], object], pairs: Sequence[Sequence[str]], clients: int, seconds: float,
                warmup_s: float) -> dict[str, object]:  # fmt: skip
    """``clients`` threads calling ``call(user, query)`` back to back (see the module doc)."""
    done: list[tuple[float, float]] = []  # (completion time, latency ms); list.append is atomic
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(i: int) -> None:
        j = i
        barrier.wait()
        while time.perf_counter() < deadline[0]:
            user, query = pairs[j % len(pairs)]
            j += clients
            t = time.perf_counter()
            try:
                call(user, query)
            except Exception as exc:  # counted and reported, never hidden
                errors.append(repr(exc)[:300])
                continue
            end = time.perf_counter()
            done.append((end, (end - t) * 1000))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for th in threads:
        th.start()
    start = time.perf_counter()
    deadline[0] = start + warmup_s + seconds
    barrier.wait()
    for th in threads:
        th.join()
    return _summarise(clients, done, start, warmup_s, seconds, errors)


async def run_tasks(call: Callable[[str, str], Awaitable[object]], pairs: Sequence[Sequence[str]], clients: int,
                    seconds: float, warmup_s: float) -> dict[str, object]:  # fmt: skip
    """The same as ``run_threads`` with ``clients`` asyncio tasks (for an asyncio client)."""
    done: list[tuple[float, float]] = []
    errors: list[str] = []
    start = time.perf_counter()
    deadline = start + warmup_s + seconds

    async def worker(i: int) -> None:
        j = i
        while time.perf_counter() < deadline:
            user, query = pairs[j % len(pairs)]
            j += clients
            t = time.perf_counter()
            try:
                await call(user, query)
            except Exception as exc:
                errors.append(repr(exc)[:300])
                continue
            end = time.perf_counter()
            done.append((end, (end - t) * 1000))

    await asyncio.gather(*(worker(i) for i in range(clients)))
    return _summarise(clients, done, start, warmup_s, seconds, errors)
