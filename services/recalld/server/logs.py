"""Logging set-up: text lines (default) or one JSON object per line (``RECALLD_LOG_FORMAT=json``),
both carrying the request id of the RPC being served.

Nothing at info level carries memory text or message content: RPC lines give the method, the
status, the duration and the request id; content appears at debug level at most.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from recalld.server.config import LogFormat, LogLevel

# Set by the RPC interceptor for the task serving one call (asyncio copies it into child tasks).
request_id: ContextVar[str] = ContextVar("request_id", default="-")


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


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
    handler.addFilter(_RequestId())
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    audit.addHandler(handler)


def configure_logging(level: LogLevel, fmt: LogFormat) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_RequestId())
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
    root.handlers[:] = [handler]
    root.setLevel(level.value)
    # Milvus Lite runs a sync gRPC server in-process and logs a harmless traceback
    # (grpc._server) for every client call it cancels; faiss logs (INFO) every CPU feature probe.
    # recalld's own server is grpc.aio and logs elsewhere.
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
