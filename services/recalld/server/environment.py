"""Settings from the environment: each RECALLD_* variable parsed, checked and set on its field of
:class:`recalld.server.config.Settings` (nested groups as RECALLD_<GROUP>_<FIELD>), and the
registry of every variable (:func:`variables`) that deployment tooling and the configuration
reference (recalld.server.config_reference) are built from."""

from __future__ import annotations

import enum
import os
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, fields, replace
from pathlib import Path

from recalld.core.settings import AsyncSettings, DecaySettings, Limits, ReconcileSettings, SearchSettings
from recalld.llm.structured import LLMSettings
from recalld.server.config import (
    BARE,
    AuthSettings,
    EmbedderSettings,
    EmbeddingSettings,
    GraphBackend,
    GraphSettings,
    LogSettings,
    Settings,
    TenantSettings,
    TlsSettings,
    VectorSettings,
)


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


def _name(prefix: str, f: Field[typing.Any]) -> str:
    """A field's variable: RECALLD_<FIELD>, RECALLD_<GROUP>_<FIELD> in a group, RECALLD_<GROUP> for a
    group's BARE field."""
    return prefix.removesuffix("_") if f.metadata.get(BARE) else prefix + f.name.upper()


def _load(cls: type, env: Mapping[str, str], prefix: str) -> object:
    values: dict[str, object] = {}
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        kind = hints[f.name]
        if kind in _NESTED:
            values[f.name] = _load(kind, env, f"{prefix}{f.name.upper()}_")
            continue
        key = _name(prefix, f)
        if key in env:
            values[f.name] = _convert(env[key], kind, key)
    return cls(**values)


# calls running at once on the production stores when RECALLD_MAX_CONCURRENT_RPCS is not set
PRODUCTION_CONCURRENT_RPCS = 16

_NESTED = (
    GraphSettings,
    VectorSettings,
    EmbedderSettings,
    LLMSettings,
    EmbeddingSettings,
    LogSettings,
    TlsSettings,
    AuthSettings,
    TenantSettings,
    Limits,
    SearchSettings,
    ReconcileSettings,
    DecaySettings,
    AsyncSettings,
)


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable of the settings: the dataclass field it sets, that field's type and
    its default value."""

    name: str  # RECALLD_<FIELD>, or RECALLD_<GROUP>_<FIELD> in a nested group (its BARE field: RECALLD_<GROUP>)
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
            out.append(Variable(_name(prefix, f), f, kind, default))
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
    if bool(settings.tls.cert_file) != bool(settings.tls.key_file):
        raise ValueError("RECALLD_TLS_CERT_FILE and RECALLD_TLS_KEY_FILE go together: set both or neither")
    if settings.tls.client_ca_file and not settings.tls.cert_file:
        raise ValueError("RECALLD_TLS_CLIENT_CA_FILE (mutual TLS) needs RECALLD_TLS_CERT_FILE and RECALLD_TLS_KEY_FILE")
    per_tenant = (
        ("RECALLD_TENANT_RATES", settings.tenant.rates, float),
        ("RECALLD_TENANT_MAX_MEMORIES_PER_USER", settings.tenant.max_memories_per_user, int),
    )
    for name, table, kind in per_tenant:
        for tenant, raw in table.items():
            try:
                kind(raw)
            except ValueError:
                raise ValueError(f"{name}: {tenant}={raw!r} is not a number") from None
    if "RECALLD_MAX_CONCURRENT_RPCS" not in source and (
        settings.graph.backend is not GraphBackend.EMBEDDED or settings.vector.is_server
    ):
        # A Search on the production stores waits on the network most of its time: 4 running calls
        # left the machine partly idle, 16 served 28 % more (bench/results/busy-falkordb+milvus-*)
        settings = replace(settings, max_concurrent_rpcs=PRODUCTION_CONCURRENT_RPCS)
    if settings.max_concurrent_rpcs < 0 or settings.max_queued_rpcs < 0:
        raise ValueError("RECALLD_MAX_CONCURRENT_RPCS and RECALLD_MAX_QUEUED_RPCS must be >= 0")
    if settings.workers < 1:
        raise ValueError(f"RECALLD_WORKERS={settings.workers}: must be >= 1")
    if settings.workers > 1:
        if settings.graph.backend is GraphBackend.EMBEDDED or not settings.vector.is_server:
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
