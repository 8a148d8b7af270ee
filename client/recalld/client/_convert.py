"""Python values <-> recalld.v1 messages. Pure functions, no I/O.

Requests: bad local input (no scope, a naive datetime, an unknown filter op, mode or level, a ttl
that is not positive, a value protobuf cannot carry) raises ``ValueError`` before anything is sent.
Responses: numbers in metadata come back as ints when they are whole (a ``Struct`` holds doubles).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2

from recalld.client._types import (
    AddResult,
    ApiKey,
    Attribute,
    Edge,
    Entity,
    EraseReceipt,
    Filter,
    FilterOp,
    Grant,
    GraphPath,
    HistoryEntry,
    ImportResult,
    Memory,
    MemoryEvent,
    Message,
    Operation,
    OperationResult,
    Page,
    ProfileAttribute,
    SearchHit,
    Subgraph,
    Triple,
    VerifyReport,
)
from recalld.v1 import admin_pb2, common_pb2, graph_pb2, memory_pb2

MessageLike = str | Message | Mapping[str, str]
Messages = MessageLike | Sequence[MessageLike]
Filters = Mapping[str, Any] | Iterable[Filter | tuple[str, str, Any]] | None
Attributes = Mapping[str, str] | Sequence[Attribute | tuple[str, str]] | None

_OPS = {
    "eq": memory_pb2.FILTER_OP_EQ,
    "ne": memory_pb2.FILTER_OP_NE,
    "gt": memory_pb2.FILTER_OP_GT,
    "gte": memory_pb2.FILTER_OP_GTE,
    "lt": memory_pb2.FILTER_OP_LT,
    "lte": memory_pb2.FILTER_OP_LTE,
    "in": memory_pb2.FILTER_OP_IN,
}
_MODES: dict[str, memory_pb2.RetrievalMode] = {
    "hybrid": memory_pb2.RETRIEVAL_MODE_HYBRID,
    "vector": memory_pb2.RETRIEVAL_MODE_VECTOR,
    "graph": memory_pb2.RETRIEVAL_MODE_GRAPH,
}
_EVENTS = {
    memory_pb2.EVENT_ADD: "add",
    memory_pb2.EVENT_UPDATE: "update",
    memory_pb2.EVENT_DELETE: "delete",
    memory_pb2.EVENT_NOOP: "noop",
    memory_pb2.EVENT_INVALIDATE: "invalidate",
}
_RETRIEVERS = {
    memory_pb2.RETRIEVER_VECTOR: "vector",
    memory_pb2.RETRIEVER_GRAPH: "graph",
    memory_pb2.RETRIEVER_LEXICAL: "lexical",
}
_STATES = {common_pb2.MEMORY_STATE_ACTIVE: "active", common_pb2.MEMORY_STATE_DELETED: "deleted"}
_ADD_MODES: dict[str, memory_pb2.AddMode] = {"sync": memory_pb2.ADD_MODE_SYNC, "async": memory_pb2.ADD_MODE_ASYNC}
_LEVELS: dict[str, common_pb2.Level] = {
    "user": common_pb2.LEVEL_USER,
    "session": common_pb2.LEVEL_SESSION,
    "agent": common_pb2.LEVEL_AGENT,
    "shared": common_pb2.LEVEL_SHARED,
}
_LEVEL_NAMES = {v: k for k, v in _LEVELS.items()}
_OPERATION_STATUSES = {
    memory_pb2.OPERATION_STATUS_PENDING: "pending",
    memory_pb2.OPERATION_STATUS_RUNNING: "running",
    memory_pb2.OPERATION_STATUS_SUCCEEDED: "succeeded",
    memory_pb2.OPERATION_STATUS_FAILED: "failed",
}
# The longest Duration protobuf carries: 10,000 years.
_MAX_DURATION = timedelta(seconds=315_576_000_000)


# -- requests ------------------------------------------------------------------------------------


def scope(user_id: str = "", agent_id: str = "", run_id: str = "") -> common_pb2.Scope:
    """The request scope; at least one of the three is required."""
    if not (user_id or agent_id or run_id):
        raise ValueError("a scope is required: pass user_id, agent_id and/or run_id")
    return common_pb2.Scope(user_id=user_id, agent_id=agent_id, run_id=run_id)


def _message(m: MessageLike, i: int) -> memory_pb2.Message:
    if isinstance(m, str):
        return memory_pb2.Message(role="user", content=m)
    if isinstance(m, Message):
        return memory_pb2.Message(role=m.role, content=m.content, name=m.name)
    if isinstance(m, Mapping):
        if not isinstance(m.get("content"), str):
            raise ValueError(f"messages[{i}] needs a 'content' string")
        unknown = set(m) - {"role", "content", "name"}
        if unknown:
            raise ValueError(f"messages[{i}] has unknown keys {sorted(unknown)}: use role, content, name")
        return memory_pb2.Message(role=m.get("role") or "user", content=m["content"], name=m.get("name") or "")
    raise ValueError(f"messages[{i}] is a {type(m).__name__}: pass str, dict or Message")


def messages(value: Messages) -> list[memory_pb2.Message]:
    """A str (one user message), a Message, a dict, or a sequence of those."""
    items: Sequence[MessageLike] = [value] if isinstance(value, str | Message | Mapping) else value
    return [_message(m, i) for i, m in enumerate(items)]


def json_value(v: Any, where: str = "value") -> struct_pb2.Value:
    """A JSON-like Python value (None, bool, int, float, str, list/tuple, dict) as a protobuf Value."""
    out = struct_pb2.Value()
    if v is None:
        out.null_value = struct_pb2.NULL_VALUE
    elif isinstance(v, bool):
        out.bool_value = v
    elif isinstance(v, int | float):
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{where}: {v} is not a finite number")
        out.number_value = v
    elif isinstance(v, str):
        out.string_value = v
    elif isinstance(v, list | tuple):
        out.list_value.values.extend(json_value(x, f"{where}[{i}]") for i, x in enumerate(v))
    elif isinstance(v, Mapping):
        out.struct_value.CopyFrom(struct(v, where))
    else:
        raise ValueError(f"{where}: {type(v).__name__} is not JSON-like (str, number, bool, None, list, dict)")
    return out


def struct(m: Mapping[str, Any], where: str = "metadata") -> struct_pb2.Struct:
    """A dict with string keys as a protobuf Struct."""
    if not isinstance(m, Mapping):
        raise ValueError(f"{where} must be a dict, not {type(m).__name__}")
    s = struct_pb2.Struct()
    for k, v in m.items():
        if not isinstance(k, str):
            raise ValueError(f"{where}: keys must be strings, not {k!r}")
        s.fields[k].CopyFrom(json_value(v, f"{where}[{k!r}]"))
    return s


def timestamp(dt: datetime) -> timestamp_pb2.Timestamp:
    """An aware datetime as a Timestamp; a naive one is refused (its time zone would be a guess)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{dt!r} has no time zone; pass an aware datetime (e.g. datetime.now(UTC))")
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts


def filter_list(value: Filters) -> tuple[Filter, ...]:
    """Normalize filters: a dict means equality on each key; otherwise Filter objects or
    (key, op, value) tuples. Checked here, so the result can be sent again (pagination)."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        items = [Filter(k, "eq", v) for k, v in value.items()]
    elif isinstance(value, str | bytes):
        raise ValueError("filters: pass a dict or a sequence of Filter / (key, op, value), not a string")
    else:
        items = []
        for i, f in enumerate(value):
            if isinstance(f, Filter):
                items.append(f)
            elif isinstance(f, tuple) and len(f) == 3:
                items.append(Filter(f[0], cast(FilterOp, f[1]), f[2]))  # op checked below
            else:
                raise ValueError(
                    f"filters[{i}]: expected Filter(key, op, value) or a (key, op, value) tuple, got {f!r}"
                )
    for i, f in enumerate(items):
        if not isinstance(f.key, str) or not f.key:
            raise ValueError(f"filters[{i}]: the key must be a non-empty string")
        if f.op not in _OPS:
            raise ValueError(f"filters[{i}]: op {f.op!r} is not one of {', '.join(_OPS)}")
        if f.op == "in" and not isinstance(f.value, list | tuple):
            raise ValueError(f"filters[{i}]: op 'in' needs a list value")
    return tuple(items)


def filters(value: Filters) -> list[memory_pb2.MetadataFilter]:
    """Filters as MetadataFilter messages (ANDed by the server)."""
    return [
        memory_pb2.MetadataFilter(key=f.key, op=_OPS[f.op], value=json_value(f.value, f"filters[{i}].value"))
        for i, f in enumerate(filter_list(value))
    ]


def mode(value: str) -> memory_pb2.RetrievalMode:
    try:
        return _MODES[value]
    except KeyError:
        raise ValueError(f"mode {value!r} is not one of {', '.join(_MODES)}") from None


def add_mode(value: str) -> memory_pb2.AddMode:
    try:
        return _ADD_MODES[value]
    except KeyError:
        raise ValueError(f"mode {value!r} is not one of {', '.join(_ADD_MODES)}") from None


def levels(value: Sequence[str]) -> list[common_pb2.Level]:
    """Level names ("user", "session", "agent", "shared") as Level values."""
    if isinstance(value, str | bytes):
        raise ValueError(f"levels: pass a list of level names (e.g. [{value!r}]), not a string")
    out = []
    for i, name in enumerate(value):
        if name not in _LEVELS:
            raise ValueError(f"levels[{i}]: {name!r} is not one of {', '.join(_LEVELS)}")
        out.append(_LEVELS[name])
    return out


def attributes(value: Attributes) -> list[common_pb2.Attribute]:
    """A dict {name: value}, or Attribute objects / (name, value) tuples (a name may repeat).
    An empty value matches any value of the name."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        items = [Attribute(k, v) for k, v in value.items()]
    elif isinstance(value, str | bytes):
        raise ValueError("attributes: pass a dict or a sequence of Attribute / (name, value), not a string")
    else:
        items = []
        for i, a in enumerate(value):
            if isinstance(a, Attribute):
                items.append(a)
            elif isinstance(a, tuple) and len(a) == 2:
                items.append(Attribute(a[0], a[1]))
            else:
                raise ValueError(f"attributes[{i}]: expected Attribute(name, value) or a (name, value) pair, got {a!r}")
    for i, a in enumerate(items):
        if not isinstance(a.name, str) or not a.name:
            raise ValueError(f"attributes[{i}]: the name must be a non-empty string")
        if not isinstance(a.value, str):
            raise ValueError(f"attributes[{i}]: the value must be a string, not {type(a.value).__name__}")
    return [common_pb2.Attribute(name=a.name, value=a.value) for a in items]


def duration(value: timedelta | float, where: str = "ttl") -> duration_pb2.Duration:
    """A positive timedelta, or seconds as a number, as a Duration."""
    if isinstance(value, bool) or not isinstance(value, timedelta | int | float):
        raise ValueError(f"{where} must be a timedelta or seconds (a number), not {type(value).__name__}")
    if not isinstance(value, timedelta) and not math.isfinite(value):
        raise ValueError(f"{where}: {value} is not a finite number of seconds")
    try:
        td = value if isinstance(value, timedelta) else timedelta(seconds=value)
    except OverflowError:
        raise ValueError(f"{where}: {value} seconds is too long") from None
    if td <= timedelta(0):
        raise ValueError(f"{where} must be positive, not {value!r}")
    if td > _MAX_DURATION:
        raise ValueError(f"{where}: {value!r} is too long (at most 10,000 years)")
    out = duration_pb2.Duration()
    out.FromTimedelta(td)
    return out


def number(value: float, where: str) -> float:
    """A finite int or float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, not {value!r}")
    return float(value)


def ids(value: Sequence[str], where: str) -> list[str]:
    """A list of ids; a lone string is refused (it would be read as one id per character)."""
    if isinstance(value, str | bytes):
        raise ValueError(f"{where}: pass a list of ids (e.g. [{value!r}]), not a string")
    out = list(value)
    for i, x in enumerate(out):
        if not isinstance(x, str):
            raise ValueError(f"{where}[{i}]: an id is a string, not {type(x).__name__}")
    return out


# -- responses -----------------------------------------------------------------------------------


def python(v: struct_pb2.Value) -> Any:
    """A protobuf Value as plain Python; whole numbers as int."""
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        n = v.number_value
        return int(n) if n.is_integer() and abs(n) < 2**53 else n
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "list_value":
        return [python(x) for x in v.list_value.values]
    if kind == "struct_value":
        return mapping(v.struct_value)
    return None


def mapping(s: struct_pb2.Struct) -> dict[str, Any]:
    return {k: python(v) for k, v in s.fields.items()}


def _dt(ts: timestamp_pb2.Timestamp) -> datetime:
    out: datetime = ts.ToDatetime(tzinfo=UTC)
    return out


def _opt_dt(parent: Any, field: str) -> datetime | None:
    return _dt(getattr(parent, field)) if parent.HasField(field) else None


def _triples(ts: Iterable[common_pb2.Triple]) -> tuple[Triple, ...]:
    return tuple(Triple(t.subject, t.predicate, t.object, t.subject_type, t.object_type) for t in ts)


def validity(as_of: datetime | None, include_retired: bool) -> graph_pb2.ValidityFilter:
    out = graph_pb2.ValidityFilter(include_retired=include_retired)
    if as_of is not None:
        out.as_of.CopyFrom(timestamp(as_of))
    return out


def memory(m: common_pb2.Memory) -> Memory:
    return Memory(
        id=m.id,
        text=m.text,
        user_id=m.scope.user_id,
        agent_id=m.scope.agent_id,
        run_id=m.scope.run_id,
        metadata=mapping(m.metadata),
        created_at=_dt(m.created_at),
        updated_at=_dt(m.updated_at),
        reference_time=_dt(m.reference_time),
        triples=_triples(m.triples),
        state=_STATES.get(m.state, "unspecified"),
        episode_id=m.episode_id,
        version=m.version,
        valid_from=_opt_dt(m, "valid_from"),
        valid_to=_opt_dt(m, "valid_to"),
        retired_at=_opt_dt(m, "retired_at"),
        superseded_by=m.superseded_by,
        retired_by_rule=m.retired_by_rule,
        confirmations=m.confirmations,
        confirmed_at=_opt_dt(m, "confirmed_at"),
        importance=m.importance,
        last_used_at=_opt_dt(m, "last_used_at"),
        expires_at=_opt_dt(m, "expires_at"),
        attributes=tuple(Attribute(a.name, a.value) for a in m.attributes),
        speaker=m.speaker,
    )


def edge(e: common_pb2.Edge) -> Edge:
    return Edge(e.subject, e.predicate, e.object, e.memory_id, _opt_dt(e, "valid_from"), _opt_dt(e, "valid_to"))


def path(p: common_pb2.GraphPath) -> GraphPath:
    return GraphPath(start=p.start, edges=tuple(edge(e) for e in p.edges), text=p.text)


def add_result(r: memory_pb2.AddResponse) -> AddResult:
    events = tuple(
        MemoryEvent(_EVENTS.get(x.event, "unspecified"), memory(x.memory), x.rule, tuple(x.related_ids))
        for x in r.results
    )
    return AddResult(episode_id=r.episode_id, events=events, operation_id=r.operation_id)


def hits(r: memory_pb2.SearchResponse) -> list[SearchHit]:
    return [
        SearchHit(
            memory=memory(h.memory),
            score=h.score,
            retrievers=tuple(_RETRIEVERS.get(x, "unspecified") for x in h.retrievers),
            paths=tuple(path(p) for p in h.paths),
            vector_score=h.vector_score if h.HasField("vector_score") else None,
            retired=h.retired,
            level=_LEVEL_NAMES.get(h.level, "unspecified"),
            relevance=h.relevance,
            weight=h.weight,
        )
        for h in r.hits
    ]


def page(r: memory_pb2.ListResponse) -> Page:
    return Page(tuple(memory(m) for m in r.memories), r.next_page_token)


def history(r: memory_pb2.HistoryResponse) -> list[HistoryEntry]:
    return [
        HistoryEntry(
            e.memory_id,
            _EVENTS.get(e.event, "unspecified"),
            e.old_text,
            e.new_text,
            _dt(e.at),
            e.actor,
            e.rule,
            e.episode_id,
            _triples(e.old_triples),
            _triples(e.new_triples),
        )
        for e in r.entries
    ]


def operation(o: memory_pb2.Operation) -> Operation:
    return Operation(
        id=o.id,
        user_id=o.scope.user_id,
        agent_id=o.scope.agent_id,
        run_id=o.scope.run_id,
        status=_OPERATION_STATUSES.get(o.status, "unspecified"),
        created_at=_dt(o.created_at),
        updated_at=_dt(o.updated_at),
        attempts=o.attempts,
        error=o.error,
        results=tuple(
            OperationResult(x.memory_id, _EVENTS.get(x.event, "unspecified"), x.rule, tuple(x.related_ids))
            for x in o.results
        ),
        recovered=o.recovered,
    )


def profile(r: memory_pb2.ProfileResponse) -> list[ProfileAttribute]:
    return [
        ProfileAttribute(
            name=a.name,
            value=a.value,
            category=a.category,
            multi_valued=a.multi_valued,
            valid_from=_opt_dt(a, "valid_from"),
            sources=tuple(memory(m) for m in a.sources),
        )
        for a in r.attributes
    ]


def grant(g: memory_pb2.Grant) -> Grant:
    return Grant(
        id=g.id,
        user_id=g.user_id,
        owner_agent=g.owner_agent,
        grantee_agent=g.grantee_agent,
        granted_at=_dt(g.granted_at),
        granted_by=g.granted_by,
        revoked_at=_opt_dt(g, "revoked_at"),
        revoked_by=g.revoked_by,
    )


def subgraph(r: graph_pb2.SubgraphResponse) -> Subgraph:
    return Subgraph(
        entities=tuple(Entity(e.name, e.type, tuple(e.aliases)) for e in r.entities),
        edges=tuple(edge(e) for e in r.edges),
    )


def verify_report(r: admin_pb2.VerifyResponse) -> VerifyReport:
    return VerifyReport(
        memories=r.memories,
        vectors=r.vectors,
        missing_vectors=tuple(r.missing_vectors),
        orphan_vectors=tuple(r.orphan_vectors),
        consistent=r.consistent,
        orphan_relations=r.orphan_relations,
        orphan_entities=r.orphan_entities,
    )


_ROLES = {"read": admin_pb2.ROLE_READ, "write": admin_pb2.ROLE_WRITE, "admin": admin_pb2.ROLE_ADMIN}


def role(value: str) -> admin_pb2.Role:
    if value not in _ROLES:
        raise ValueError(f"role must be one of {', '.join(_ROLES)}, not {value!r}")
    return _ROLES[value]


def api_key(k: admin_pb2.ApiKey) -> ApiKey:
    return ApiKey(
        id=k.id,
        tenant=k.tenant,
        name=k.name,
        role=admin_pb2.Role.Name(k.role).removeprefix("ROLE_").lower(),
        user_ids=tuple(k.user_ids),
        agent_ids=tuple(k.agent_ids),
        created_at=_dt(k.created_at),
        created_by=k.created_by,
        revoked_at=_opt_dt(k, "revoked_at"),
        revoked_by=k.revoked_by,
    )


def erase_receipt(r: admin_pb2.EraseReceipt) -> EraseReceipt:
    return EraseReceipt(
        id=r.id,
        user_id=r.scope.user_id,
        agent_id=r.scope.agent_id,
        run_id=r.scope.run_id,
        memories=r.memories,
        relations=r.relations,
        entities=r.entities,
        episodes=r.episodes,
        history_entries=r.history_entries,
        vectors=r.vectors,
        operations=r.operations,
        grants=r.grants,
        requested_at=_dt(r.requested_at),
        completed_at=_opt_dt(r, "completed_at"),
    )


_IMPORT_KEYS = frozenset(
    {"source_id", "user_id", "agent_id", "run_id", "messages", "content", "role", "name", "metadata",
     "reference_time", "infer", "importance", "ttl"}
)  # fmt: skip


def import_item(item: Mapping[str, Any], i: int, *, infer: bool | None = None) -> memory_pb2.ImportItem:
    """An import item from a mapping: ``source_id``, the scope (``user_id``, ``agent_id``,
    ``run_id``), ``messages`` (as for add) or one message as ``content`` (+ ``role``, ``name``),
    and optionally ``metadata``, ``reference_time``, ``infer``, ``importance``, ``ttl``."""
    unknown = set(item) - _IMPORT_KEYS
    if unknown:
        raise ValueError(f"import item {i}: unknown keys {sorted(unknown)}")
    if "messages" in item:
        msgs = messages(item["messages"])
    else:
        msgs = messages([{"role": item.get("role", "user"), "content": item.get("content", ""),
                          "name": item.get("name", "")}])  # fmt: skip
    out = memory_pb2.ImportItem(
        source_id=str(item.get("source_id", "")),
        scope=scope(str(item.get("user_id", "")), str(item.get("agent_id", "")), str(item.get("run_id", ""))),
        messages=msgs,
        metadata=struct(item.get("metadata") or {}),
    )
    chosen = item.get("infer", infer)
    if chosen is not None:
        out.infer = bool(chosen)
    if item.get("reference_time") is not None:
        out.reference_time.CopyFrom(timestamp(item["reference_time"]))
    if item.get("importance") is not None:
        out.importance = number(item["importance"], "importance")
    if item.get("ttl") is not None:
        out.ttl.CopyFrom(duration(item["ttl"]))
    return out


def import_result(r: memory_pb2.ImportResponse) -> ImportResult:
    return ImportResult(r.received, r.imported, r.skipped_duplicates, r.memories_written)
