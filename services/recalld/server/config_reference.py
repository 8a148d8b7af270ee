"""The configuration reference, docs/configuration.md, generated from the settings registry.

Each setting's description is the ``doc`` entry of its dataclass field's metadata
(``field(default=..., metadata={"doc": "..."})``); the default and the allowed values come from the
field itself. A setting without a description stops the generator: the reference never shows a
blank. tests/unit/test_config_reference.py fails when docs/configuration.md is not what
:func:`render` makes.

    python -m recalld.server.config_reference           print the reference
    python -m recalld.server.config_reference --write   rewrite docs/configuration.md (make docs)
"""

from __future__ import annotations

import argparse
import enum
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from recalld.server.config import Settings
from recalld.server.environment import Variable, load_settings, variables

# services/recalld/server/config_reference.py -> the repository root
DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
REGENERATE = "`make docs` (or `python -m recalld.server.config_reference --write`)"

# Words that mark a description as unfinished: the generator refuses them like a missing one.
PLACEHOLDER = re.compile(r"\b(TODO|FIXME|XXX|TBD|placeholder|lorem ipsum|describe me|no description)\b", re.I)


class MissingDoc(ValueError):
    """A setting has no description (or a placeholder for one)."""


@dataclass(frozen=True, slots=True)
class Section:
    """One table of the reference: the variables named here, or starting with one of the prefixes
    (an exact name wins over a prefix, a longer prefix over a shorter one)."""

    title: str
    intro: str
    names: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()


# Top-level settings no section claims go to the first section; a nested group's settings must be
# claimed (a new group gets a section of its own).
SECTIONS: tuple[Section, ...] = (
    Section(
        "Server",
        "Where the data lives, where the server listens, and how many calls it serves at once.",
        names=("RECALLD_DATA_DIR", "RECALLD_LISTEN", "RECALLD_WORKERS", "RECALLD_GRACE_PERIOD_S"),
        prefixes=("RECALLD_MAX_",),
    ),
    Section(
        "Graph store",
        "The system of record: episodes, memories, relations and their history.",
        prefixes=("RECALLD_GRAPH_",),
    ),
    Section(
        "Vector store",
        "Milvus: Milvus Lite in the data directory by default, or a Milvus server.",
        prefixes=("RECALLD_VECTOR_",),
    ),
    Section(
        "Models",
        "Extraction and embeddings: offline spaCy and MiniLM by default, or OpenAI-compatible endpoints.",
        names=("RECALLD_SPACY_MODEL", "RECALLD_EXTRACTOR", "RECALLD_MODEL_PROCESS"),
        prefixes=("RECALLD_EMBEDDER",),
    ),
    Section(
        "LLM endpoint",
        "The OpenAI-compatible chat endpoint: extraction with `RECALLD_EXTRACTOR=llm`, the reconciliation "
        "judge with `RECALLD_TRUTH_JUDGE=llm`.",
        prefixes=("RECALLD_LLM_",),
    ),
    Section(
        "Embeddings endpoint",
        "The OpenAI-compatible embeddings endpoint, with `RECALLD_EMBEDDER=openai`; its URL and key default "
        "to the chat endpoint's.",
        prefixes=("RECALLD_EMBEDDING_",),
    ),
    Section(
        "Limits",
        "Request limits: a request beyond one is refused with `RESOURCE_EXHAUSTED`.",
        prefixes=("RECALLD_LIMITS_",),
    ),
    Section(
        "Search",
        "How Search finds candidates and fuses the retrievers' lists: score fusion (`weighted`) uses the "
        "alphas, rank fusion (`rrf`) the weights.",
        prefixes=("RECALLD_SEARCH_",),
    ),
    Section(
        "Reconciliation",
        "How an Add reconciles new facts with what the scope already knows.",
        prefixes=("RECALLD_TRUTH_",),
    ),
    Section(
        "Decay",
        "How a memory's weight in Search ranking fades with time.",
        prefixes=("RECALLD_DECAY_",),
    ),
    Section(
        "Asynchronous Add",
        "Adds answered once recorded, and processed by background workers.",
        prefixes=("RECALLD_ASYNC_ADD_",),
    ),
    Section(
        "Background work",
        "The reconciler that keeps the graph and vector stores in step, and the expiry of session memories.",
        names=(
            "RECALLD_RECONCILE_INTERVAL_S",
            "RECALLD_SWEEP_INTERVAL_S",
            "RECALLD_SESSION_TTL_S",
            "RECALLD_PRUNE_INTERVAL_S",
        ),
    ),
    Section(
        "Authentication",
        "API keys (kept hashed in the default tenant's graph store) and JWT bearer tokens verified against JWKS files.",
        names=("RECALLD_AUTH",),
        prefixes=("RECALLD_AUTH_",),
    ),
    Section(
        "Tenants",
        "Per-tenant request rates and memory limits.",
        prefixes=("RECALLD_TENANT_",),
    ),
    Section(
        "TLS",
        "TLS on the gRPC port from PEM files, re-read when they change; a client CA makes it mutual TLS.",
        prefixes=("RECALLD_TLS_",),
    ),
    Section(
        "Logging, metrics and tracing",
        "Logs, the audit log, Prometheus metrics, health and readiness, and OpenTelemetry tracing.",
        names=(
            "RECALLD_LOG_LEVEL",
            "RECALLD_LOG_FORMAT",
            "RECALLD_AUDIT_LOG",
            "RECALLD_METRICS_LISTEN",
            "RECALLD_HEALTH_LISTEN",
            "RECALLD_READINESS_INTERVAL_S",
            "RECALLD_TRACING",
            "RECALLD_OTLP_ENDPOINT",
        ),
    ),
)


def doc_of(var: Variable) -> str:
    """The variable's description, on one line; MissingDoc when it has none."""
    doc = var.spec.metadata.get("doc")
    if not isinstance(doc, str) or not doc.strip():
        raise MissingDoc(f"{var.name} has no description: give its field, {var.spec.name}, metadata={{'doc': '...'}}")
    if PLACEHOLDER.search(doc):
        raise MissingDoc(f"{var.name}: {doc!r} is a placeholder, not a description")
    return " ".join(doc.split())


def is_secret(var: Variable) -> bool:
    """Secrets (API keys, passwords) are kept out of the settings' repr, and out of the reference."""
    return not var.spec.repr


def env_value(value: object) -> str:
    """A value as it would be written in the environment (empty for an empty value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int | str | Path):
        return str(value)
    if isinstance(value, frozenset):  # comma-separated
        return ", ".join(sorted(str(v) for v in value))
    if isinstance(value, Mapping):  # comma-separated key=value pairs, grouped by value
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items(), key=lambda kv: (str(kv[1]), str(kv[0]))))
    raise TypeError(f"no environment form for {type(value).__name__} values: teach env_value about it")


def allowed_values(var: Variable) -> list[str]:
    """An enum's values (the empty one, "use the default", is described rather than listed)."""
    kind = var.kind
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return [str(m.value) for m in kind if m.value]
    return []


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{_cell(text)}`" if text else ""


def section_of(name: str, top_level: bool, sections: Sequence[Section] = SECTIONS) -> Section:
    for s in sections:
        if name in s.names:
            return s
    best: tuple[int, Section] | None = None
    for s in sections:
        for p in s.prefixes:
            if name.startswith(p) and (best is None or len(p) > best[0]):
                best = (len(p), s)
    if best is not None:
        return best[1]
    if top_level and sections:
        return sections[0]
    raise ValueError(f"{name}: no section of the configuration reference claims it (add one to SECTIONS)")


def _invalid_choice_example() -> str:
    """The message an invalid choice stops start-up with, as the settings word it."""
    try:
        load_settings({"RECALLD_SEARCH_FUSION": "borda"})
    except ValueError as exc:
        return str(exc)
    raise AssertionError("RECALLD_SEARCH_FUSION=borda was accepted")


def _intro() -> list[str]:
    return [
        "# Configuration reference",
        "",
        "<!-- Generated from the settings registry (services/recalld/server/config.py and the settings it "
        f"nests) by {REGENERATE}. Do not edit by hand: tests/unit/test_config_reference.py fails when this "
        "file and the registry differ. -->",
        "",
        "recalld reads its settings from `RECALLD_*` environment variables when it starts (`recalld "
        "config-reference` prints this page). A top-level setting is `RECALLD_<FIELD>`; a setting of a nested "
        "group is `RECALLD_<GROUP>_<FIELD>` (`RECALLD_LIMITS_MAX_MESSAGES`). Every default runs on one machine "
        "with zero setup: data in `./data`, Milvus Lite, the embedded graph store, spaCy extraction and the "
        "local MiniLM embedder.",
        "",
        "- Choices (backend, fusion, consistency, index, log level, ...) are enums matched case-insensitively; "
        'their values are listed under "allowed values". Any other value stops start-up with the variable, '
        f"the value and the allowed values (`{_invalid_choice_example()}`).",
        "- A value that does not parse stops start-up too, naming the variable and the value.",
        "- Booleans are `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`). Lists are comma-separated; "
        "tables are comma-separated `key=value` pairs. Variables ending in `_S` are seconds.",
        "- An empty default is left blank. Secrets (API keys, passwords) show no default and are never printed.",
        "- Times are stored as integer microseconds in every store and page token.",
    ]


def render(cls: type = Settings, sections: Sequence[Section] = SECTIONS) -> str:
    """The configuration reference (markdown) of the settings dataclass ``cls``. Raises MissingDoc
    when a setting has no description, ValueError when no section claims a nested group."""
    found = variables(cls)
    missing = []
    for var in found:
        try:
            doc_of(var)
        except MissingDoc as exc:
            missing.append(str(exc))
    if missing:
        raise MissingDoc("; ".join(missing))
    if not sections:
        sections = (Section("Settings", ""),)
    own = fields(cls)  # settings of cls itself, not of a nested group (whose variables a section must claim)
    top_level = {var.name for var in found if var.spec in own}
    rows: dict[str, list[Variable]] = {s.title: [] for s in sections}
    for var in found:
        rows[section_of(var.name, var.name in top_level, sections).title].append(var)
    lines = _intro()
    for section in sections:
        if not rows[section.title]:
            continue
        title = section.title
        lines += ["", f"## {title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        lines += ["| variable | default | allowed values | description |", "|---|---|---|---|"]
        for var in rows[title]:
            default = "" if is_secret(var) else _code(env_value(var.default))
            allowed = ", ".join(_code(v) for v in allowed_values(var))
            cells = (f"`{var.name}`", default, allowed, _cell(doc_of(var)))
            lines.append("|" + "|".join(f" {c} " if c else " " for c in cells) + "|")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m recalld.server.config_reference",
        description="the configuration reference (markdown), generated from the settings registry",
    )
    p.add_argument("--write", action="store_true", help=f"rewrite {DOC_PATH} instead of printing it")
    args = p.parse_args(argv)
    text = render()
    if args.write:
        DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOC_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DOC_PATH}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
