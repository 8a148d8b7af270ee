"""Several server processes on one port (``RECALLD_WORKERS``), for the production stores.

One Python process runs Python code on one core at a time (the GIL), and a Search is mostly
Python: spaCy's query analysis, the graph walk's scoring, fusion, protobuf. With N workers the
supervisor (this module, the process ``recalld serve`` started) runs N copies of the server, each
binding the same port with SO_REUSEPORT; the kernel spreads new connections over them. Each worker
is a full replica (it has its own reconciler, asynchronous-Add workers and readiness), which
recalld already supports against shared Neo4j/FalkorDB and Milvus servers. Worker i serves metrics
on the metrics port + i.

The supervisor forwards SIGTERM/SIGINT to every worker and waits for them (each does its own
graceful stop), restarts a worker that dies, and gives up (exit 1) when workers keep dying
right after start. The embedded stores allow one process per data directory: the settings refuse
workers > 1 with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time

from recalld.server.config import Settings

log = logging.getLogger(__name__)

WORKER_ENV = "RECALLD_WORKER_INDEX"
_QUICK_DEATH_S = 10.0
_MAX_QUICK_DEATHS = 5


def is_worker() -> bool:
    return WORKER_ENV in os.environ


def _shifted(listen: str, by: int) -> str:
    host, _, port = listen.rpartition(":")
    return f"{host}:{int(port) + by}" if port.isdigit() and int(port) else listen


def worker_env(settings: Settings, index: int) -> dict[str, str]:
    env = dict(os.environ)
    env |= {WORKER_ENV: str(index), "RECALLD_LISTEN": settings.listen, "RECALLD_DATA_DIR": str(settings.data_dir)}
    if settings.metrics_listen:
        env["RECALLD_METRICS_LISTEN"] = _shifted(settings.metrics_listen, index)
    return env


async def supervise(settings: Settings) -> int:
    """Run ``settings.workers`` server processes until SIGTERM/SIGINT; the exit status."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    procs: dict[int, asyncio.subprocess.Process] = {}
    started: dict[int, float] = {}
    quick_deaths = 0

    async def start(i: int) -> None:
        procs[i] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "recalld.server.cli", "serve", env=worker_env(settings, i)
        )
        started[i] = time.monotonic()
        log.info("worker %d started (pid %d)", i, procs[i].pid)

    for i in range(settings.workers):
        await start(i)
    log.info("recalld supervisor: %d workers on %s (pid %d)", settings.workers, settings.listen, os.getpid())
    status = 0
    stop_wait = asyncio.ensure_future(stopping.wait())
    try:
        while not stopping.is_set():
            waits = {asyncio.ensure_future(p.wait()): i for i, p in procs.items()}
            done, _ = await asyncio.wait({stop_wait, *waits}, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                if w not in done:
                    w.cancel()
            if stopping.is_set():
                break
            for w in done:
                if w is stop_wait:
                    continue
                i = waits[w]
                code = procs[i].returncode
                lived = time.monotonic() - started[i]
                quick_deaths = quick_deaths + 1 if lived < _QUICK_DEATH_S else 0
                log.error("worker %d (pid %d) exited with %s after %.1fs", i, procs[i].pid, code, lived)
                if quick_deaths >= _MAX_QUICK_DEATHS:
                    log.error("workers keep dying at start-up: stopping")
                    status = 1
                    stopping.set()
                    break
                await asyncio.sleep(min(5.0, 0.5 * 2**quick_deaths))
                await start(i)
    finally:
        stop_wait.cancel()
        for p in procs.values():
            if p.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        deadline = settings.grace_period_s + 30.0
        for p in procs.values():
            try:
                await asyncio.wait_for(p.wait(), deadline)
            except TimeoutError:
                log.error("worker pid %d did not stop in %.0fs: killed", p.pid, deadline)
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                await p.wait()
            if p.returncode not in (0, -signal.SIGTERM):
                status = status or 1
    log.info("stopped (%d workers)", len(procs))
    return status
