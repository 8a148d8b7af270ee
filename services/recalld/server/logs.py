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
