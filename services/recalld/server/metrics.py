"""Prometheus metrics of one server: RPCs, store calls, extraction, embedding, the vector index lag,
asynchronous work, the reconciler and the stores' reachability.

Each App owns a registry (several apps in one process, as in tests, do not collide); `serve`
exposes it at ``/metrics`` on ``RECALLD_METRICS_LISTEN`` with prometheus-client's own HTTP server
(a daemon thread: a scrape never waits on the event loop).
"""

from __future__ import annotations

import functools
import logging
from importlib import metadata
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from recalld.graph.rows import decode_cache_info

log = logging.getLogger(__name__)

# Seconds: from a cached in-process read (~1 ms) to an LLM extraction (~10 s).
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.rpc_requests = Counter(
            "recalld_rpc_requests", "RPCs answered, by method and status code", ["method", "code"], registry=r
        )
        self.rpc_seconds = Histogram(
            "recalld_rpc_duration_seconds", "RPC latency, by method and status code", ["method", "code"],
            buckets=_LATENCY, registry=r,
        )  # fmt: skip
        self.rpc_in_flight = Gauge("recalld_rpc_in_flight", "RPCs being served now", registry=r)
        self.rpc_queued = Gauge(
            "recalld_rpc_queued", "RPCs waiting for a slot (RECALLD_MAX_CONCURRENT_RPCS)", registry=r
        )
        self.rpc_rejected = Counter(
            "recalld_rpc_rejected", "RPCs refused RESOURCE_EXHAUSTED because the waiting line was full, by method",
            ["method"], registry=r,
        )  # fmt: skip
        self.store_seconds = Histogram(
            "recalld_store_call_duration_seconds", "Store call latency, by store and operation", ["store", "op"],
            buckets=_LATENCY, registry=r,
        )  # fmt: skip
        self.store_errors = Counter(
            "recalld_store_call_errors", "Store calls that raised, by store and operation", ["store", "op"], registry=r
        )
        self.extraction_seconds = Histogram(
            "recalld_extraction_duration_seconds", "Fact extraction time per call", buckets=_LATENCY, registry=r
        )
        self.embedding_seconds = Histogram(
            "recalld_embedding_duration_seconds", "Embedding time per batch", buckets=_LATENCY, registry=r
        )
        self.index_lag = Gauge(
            "recalld_vector_index_lag",
            "Memory versions written to the graph store and not yet applied to the vector index (read up to 10000)",
            registry=r,
        )
        self.operations_pending = Gauge(
            "recalld_async_operations_pending", "Asynchronous Adds accepted and not yet applied", registry=r
        )
        self.reconciler_runs = Counter(
            "recalld_reconciler_runs", "Reconciler passes, by kind (reconcile: pending work; sweep: full)", ["kind"],
            registry=r,
        )  # fmt: skip
        self.reconciler_repairs = Counter(
            "recalld_reconciler_repairs",
            "Vector index entries the reconciler wrote or removed, by kind and action",
            ["kind", "action"],
            registry=r,
        )
        self.reconciler_failures = Counter(
            "recalld_reconciler_failures", "Reconciler passes that failed", ["kind"], registry=r
        )
        self.store_up = Gauge(
            "recalld_store_up", "1 when the store answered the last readiness probe, else 0", ["store"], registry=r
        )
        decoded = Gauge(
            "recalld_decoded_row_cache", "The decoded-row cache of this process (recalld.graph.rows): hits, misses, "
            "rows held", ["stat"], registry=r,
        )  # fmt: skip
        for i, stat in enumerate(("hits", "misses", "rows")):
            decoded.labels(stat).set_function(functools.partial(_decode_stat, i))
        info = Gauge("recalld_build_info", "Version of the running server", ["version"], registry=r)
        info.labels(version=_version()).set(1)

    def reconciled(self, kind: str, upserted: int, deleted: int) -> None:
        self.reconciler_runs.labels(kind).inc()
        self.reconciler_repairs.labels(kind, "upsert").inc(upserted)
        self.reconciler_repairs.labels(kind, "delete").inc(deleted)


def _decode_stat(i: int) -> float:
    return float(decode_cache_info()[i])


def _version() -> str:
    try:
        return metadata.version("recalld")
    except metadata.PackageNotFoundError:
        return "unknown"


class MetricsServer:
    """``/metrics`` over HTTP on ``host:port`` (port 0 picks a free one: see :attr:`port`)."""

    def __init__(self, metrics: Metrics, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        self._server: Any
        self._server, self._thread = start_http_server(int(port), addr=host or "0.0.0.0", registry=metrics.registry)
        self.port: int = self._server.server_port
        log.info("metrics on http://%s:%d/metrics", host or "0.0.0.0", self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
