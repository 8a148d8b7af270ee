"""OpenTelemetry tracing, off by default. ``RECALLD_TRACING=otlp`` exports spans over OTLP/HTTP to
``RECALLD_OTLP_ENDPOINT`` (else the SDK's ``OTEL_EXPORTER_OTLP_*`` variables; service name from
``OTEL_SERVICE_NAME``, default ``recalld``). One span per RPC (its parent taken from the W3C
``traceparent`` metadata of the call), with children for extraction, embedding, every store call
(vector search, graph walks) and fusion."""

from __future__ import annotations

import logging
import os
from typing import Any

from recalld.server.config import Settings, Tracing

log = logging.getLogger(__name__)


class TracingHandle:
    def __init__(self, provider: Any) -> None:
        self._provider = provider

    def close(self) -> None:
        """Flush what is buffered and stop exporting."""
        self._provider.shutdown()


def start_tracing(settings: Settings) -> TracingHandle | None:
    if settings.tracing is Tracing.OFF:
        return None
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces" if settings.otlp_endpoint else None
    name = os.environ.get("OTEL_SERVICE_NAME") or "recalld"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    log.info("tracing: OTLP/HTTP to %s as %s", endpoint or "the OTEL_EXPORTER_OTLP_* endpoint", name)
    return TracingHandle(provider)
