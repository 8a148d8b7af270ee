"""Milvus Lite in a child process of its own, so its search runs on another core.

Milvus Lite 3 is pure Python: pymilvus, given a ``.db`` path, starts its gRPC server on a thread
of the calling process, where every vector search then competes with recalld's own Python for one
interpreter lock. Run as a child instead, the same server (``milvus_lite``'s
``start_server_in_thread`` on 127.0.0.1 and a free port, as pymilvus does it in-process) searches
on the second core while recalld parses, walks and fuses on the first. The data directory, its
format and its one-process lock (an advisory ``flock`` on ``<path>/LOCK``) are unchanged: the
child is the one process that opens it. The child searches with recalld.vector.lite_search's
executor (the same hits as Milvus Lite's own, with less Python per row).

Lifetime, bound to the parent's: the child exits when its stdin closes, which happens when the
parent closes it (:meth:`LiteProcess.stop`) or dies in any way, SIGKILL included (the kernel
closes the pipe). Before exiting it stops the server and closes the database, which releases the
lock. A child started while an older one still holds the lock (a parent restarted right after a
kill) waits for it, up to ``lock_wait_s``.

    python -m recalld.vector.lite_process <data dir>      # prints "PORT <n>" once serving
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from recalld.vector.lite_search import FAST_SEARCH_ENV
from recalld.vector.lite_search import install as install_fast_search

log = logging.getLogger(__name__)

_READY = "PORT "


class LiteProcess:
    """A Milvus Lite server for one data directory, in a child process, stopped by PID."""

    def __init__(
        self, path: Path, *, start_timeout_s: float = 90.0, lock_wait_s: float = 30.0, fast_search: bool = True
    ) -> None:
        self.path = path
        self.fast_search = fast_search
        self.start_timeout_s = start_timeout_s
        self.lock_wait_s = lock_wait_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self) -> str:
        """Start the child; its ``http://127.0.0.1:<port>`` URI once it serves."""
        env = dict(os.environ, RECALLD_LITE_LOCK_WAIT_S=str(self.lock_wait_s))
        env[FAST_SEARCH_ENV] = "true" if self.fast_search else "false"  # the child's switch, from the settings
        self._proc = proc = subprocess.Popen(
            [sys.executable, "-m", "recalld.vector.lite_process", str(self.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout_s
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                line = proc.stdout.readline()
                if line.startswith(_READY.encode()) or not line:
                    break
            elif proc.poll() is not None:
                break
        if not line.startswith(_READY.encode()):
            self.stop()
            raise RuntimeError(f"Milvus Lite for {self.path} did not start (exit {proc.poll()}): see the log above")
        port = int(line[len(_READY) :].strip())
        log.info("Milvus Lite for %s serving in child pid %d on 127.0.0.1:%d", self.path, proc.pid, port)
        return f"http://127.0.0.1:{port}"

    def stop(self, timeout_s: float = 30.0) -> None:
        """Close the child's stdin (it stops its server and closes the database), wait; SIGKILL
        after ``timeout_s``."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.error("Milvus Lite child pid %d did not stop in %.0f s: killed", proc.pid, timeout_s)
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# -- the child -------------------------------------------------------------------------------------


def _open(path: str, lock_wait_s: float):  # type: ignore[no-untyped-def]
    from milvus_lite.adapter.grpc.server import start_server_in_thread
    from milvus_lite.exceptions import DataDirLockedError

    deadline = time.monotonic() + lock_wait_s
    while True:
        try:
            return start_server_in_thread(data_dir=path, host="127.0.0.1", port=0)
        except DataDirLockedError:  # a child that is still stopping holds it: wait for it
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m recalld.vector.lite_process <data dir>", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is the parent's to handle
    install_fast_search()
    server, db, port = _open(args[0], float(os.environ.get("RECALLD_LITE_LOCK_WAIT_S", "30")))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def watch_parent() -> None:
        with contextlib.suppress(Exception):
            while sys.stdin.buffer.read(4096):
                pass
        done.set()

    threading.Thread(target=watch_parent, daemon=True).start()
    print(f"{_READY}{port}", flush=True)
    done.wait()
    server.stop(grace=5).wait()
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
