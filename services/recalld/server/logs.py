"""Logging set-up: text lines (default) or one JSON object per line (``RECALLD_LOG_FORMAT=json``),
both carrying the request id of the RPC being served.

Nothing at info level carries memory text or message content: RPC lines give the method, the
status, the duration and the request id; content appears at debug level at most.

Lines leave the request path at once: a call's handler only puts its record on a bounded queue
(the standard library's ``QueueHandler``); one writer thread per sink (``QueueListener``)
formats and writes them, so a slow stderr pipe or disk never stalls the event loop. Nothing is
dropped: when ``_QUEUED_LINES`` lines wait, the caller waits for the writer. The graceful stop
writes every queued line (:func:`flush_logs`); a SIGKILL can lose the lines still queued, at
most ``_QUEUED_LINES`` per sink.
"""

from __future__ import annotations

import atexit
import logging
import queue
from contextvars import ContextVar
from logging.handlers import QueueHandler, QueueListener

from pythonjsonlogger.json import JsonFormatter

from recalld.server.config import LogFormat, LogLevel

# Set by the RPC interceptor for the task serving one call (asyncio copies it into child tasks).
request_id: ContextVar[str] = ContextVar("request_id", default="-")


_QUEUED_LINES = 10_000


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class _Enqueue(QueueHandler):
    """Puts a record on the writer's queue; waits while the queue is full (never drops a line)."""

    def __init__(self, lines: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(lines)
        self._lines = lines

    def enqueue(self, record: logging.LogRecord) -> None:
        self._lines.put(record)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The message is merged now (its arguments may change after the call returns); the
        # formatting, exception included, is the sink's, on the writer thread. Each logger here
        # has this one handler, so the record is nobody else's to keep as it was: no copy.
        record.msg = record.getMessage()
        record.args = None
        return record


_writers: dict[str, QueueListener] = {}


def _off_the_request_path(name: str, sink: logging.Handler) -> logging.Handler:
    """A handler that hands records to a writer thread feeding ``sink`` (replacing the previous
    writer of that name, after it wrote what it had)."""
    old = _writers.pop(name, None)
    if old is not None:
        old.stop()
        for h in old.handlers:
            h.close()
    lines: queue.Queue[logging.LogRecord] = queue.Queue(maxsize=_QUEUED_LINES)
    writer = QueueListener(lines, sink, respect_handler_level=True)
    writer.start()
    _writers[name] = writer
    handler = _Enqueue(lines)
    handler.addFilter(_RequestId())
    return handler


def flush_logs() -> None:
    """Write every queued line and stop the writer threads (the last step of a graceful stop;
    also at interpreter exit)."""
    while _writers:
        _, writer = _writers.popitem()
        writer.stop()
        for h in writer.handlers:
            h.flush()


atexit.register(flush_logs)


def configure_audit(target: str) -> None:
    """The audit logger ``recalld.audit``: JSON lines, always, to stderr, a file, or nowhere
    ("off"); it does not propagate to the application log."""
    audit = logging.getLogger("recalld.audit")
    audit.propagate = False
    audit.setLevel(logging.INFO)
    for h in list(audit.handlers):
        audit.removeHandler(h)
        h.close()
    if target == "off":
        audit.disabled = True
        return
    audit.disabled = False
    handler: logging.Handler = logging.StreamHandler() if target == "stderr" else logging.FileHandler(target)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    audit.addHandler(_off_the_request_path("audit", handler))


def configure_logging(level: LogLevel, fmt: LogFormat) -> None:
    handler = logging.StreamHandler()
    if fmt is LogFormat.JSON:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [_off_the_request_path("log", handler)]
    root.setLevel(level.value)
    # Milvus Lite runs a sync gRPC server in-process and logs a harmless traceback
    # (grpc._server) for every client call it cancels; faiss logs (INFO) every CPU feature probe.
    # recalld's own server is grpc.aio and logs elsewhere.
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
