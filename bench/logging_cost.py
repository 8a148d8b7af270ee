"""What the two INFO lines of every RPC (the rpc line and the audit line) cost, on the request
path and in all, written synchronously (as before) or through recalld's writer threads.

    python -m bench.logging_cost [--lines 20000]

Sinks write to /dev/null, so the figures are the formatting and the handler's own work (a real
stderr pipe or disk adds its write, which the writer thread takes off the request path).
"""

from __future__ import annotations

import argparse
import logging
import os
import time

from pythonjsonlogger.json import JsonFormatter

from recalld.server.logs import _off_the_request_path, _RequestId, flush_logs

FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"


def _sinks() -> tuple[logging.Handler, logging.Handler]:
    text = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - closed by flush_logs / the process
    text.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))
    audit = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    audit.setFormatter(JsonFormatter(FIELDS, rename_fields={"asctime": "time", "levelname": "level"}))
    return text, audit


def _run(lines: int, queued: bool) -> tuple[float, float]:
    """(request-path CPU us per RPC, all CPU us per RPC) for ``lines`` RPCs of two lines each."""
    text, audit = _sinks()
    rpc_log, audit_log = logging.getLogger("bench.rpc"), logging.getLogger("bench.audit")
    for lg, sink, name in ((rpc_log, text, "rpc"), (audit_log, audit, "audit")):
        lg.propagate = False
        lg.setLevel(logging.INFO)
        if queued:
            lg.handlers[:] = [_off_the_request_path(name, sink)]
        else:
            sink.addFilter(_RequestId())
            lg.handlers[:] = [sink]
    cpu0, thread0 = time.process_time(), time.thread_time()
    for i in range(lines):
        rpc_log.info("rpc %s %s %.1f ms", "/recalld.v1.MemoryService/Search", "OK", 12.5)
        audit_log.info(
            "audit",
            extra={"tenant": "default", "principal": "key:3f9a0c2b1d4e", "rpc": "Search", "user_id": f"u{i % 50}",
                   "status": "OK", "ms": 12.5},
        )  # fmt: skip
    path = time.thread_time() - thread0
    flush_logs()
    total = time.process_time() - cpu0
    return 1e6 * path / lines, 1e6 * total / lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=20000)
    args = ap.parse_args()
    for queued in (False, True, False, True):
        path, total = _run(args.lines, queued)
        how = "writer threads" if queued else "synchronous"
        print(f"{how:15s} request path {path:6.1f} us per RPC (2 lines), in all {total:6.1f} us")


if __name__ == "__main__":
    main()
