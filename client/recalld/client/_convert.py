"""Python values <-> recalld.v1 messages. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from recalld.client._types import (
    AddResult,
    Edge,
    Entity,
    Filter,
    GraphPath,
    HistoryEntry,
    Memory,
    MemoryEvent,
    Message,
    SearchHit,
    Subgraph,
    Triple,
    VerifyReport,
)
from recalld.v1 import admin_pb2, common_pb2, graph_pb2, memory_pb2

Messages = str | Message | Mapping[str, str] | Sequence[str | Message | Mapping[str, str]]
Filters = Mapping[str, Any] | Iterable[Filter | tuple[str, str, Any]] | None

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
}
_RETRIEVERS = {memory_pb2.RETRIEVER_VECTOR: "vector", memory_pb2.RETRIEVER_GRAPH: "graph"}
_STATES = {common_pb2.MEMORY_STATE_ACTIVE: "active", common_pb2.MEMORY_STATE_DELETED: "deleted"}


# -- requests ------------------------------------------------------------------------------------


def scope(user_id: str = "", agent_id: str = "", run_id: str = "") -> common_pb2.Scope:
    if not (user_id or agent_id or run_id):
        raise ValueError("a scope is required: pass user_id, agent_id and/or run_id")
    return common_pb2.Scope(user_id=user_id, agent_id=agent_id, run_id=run_id)


def messages(value: Messages) -> list[memory_pb2.Message]:
    items: Sequence[str | Message | Mapping[str, str]]
    items = [value] if isinstance(value, str | Message | Mapping) else value
    out = []
    for m in items:
        if isinstance(m, str):
            out.append(memory_pb2.Message(role="user", content=m))
        elif isinstance(m, Message):
            out.append(memory_pb2.Message(role=m.role, content=m.content, name=m.name))
        else:
            out.append(memory_pb2.Message(role=m.get("role", "user"), content=m["content"], name=m.get("name", "")))
    return out


def struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(dict(value))
    return s


def timestamp(dt: datetime) -> timestamp_pb2.Timestamp:
    if dt.tzinfo is None:
        raise ValueError(f"{dt!r} has no time zone; pass an aware datetime (e.g. datetime.now(UTC))")
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts


def _value(v: Any) -> struct_pb2.Value:
    return json_format.ParseDict(list(v) if isinstance(v, tuple) else v, struct_pb2.Value())


def filters(value: Filters) -> list[memory_pb2.MetadataFilter]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        items: list[Filter] = [Filter(k, "eq", v) for k, v in value.items()]
    else:
        items = [f if isinstance(f, Filter) else Filter(f[0], f[1], f[2]) for f in value]  # type: ignore[arg-type]
    out = []
    for f in items:
        if f.op not in _OPS:
            raise ValueError(f"filter op {f.op!r} is not one of {', '.join(_OPS)}")
        out.append(memory_pb2.MetadataFilter(key=f.key, op=_OPS[f.op], value=_value(f.value)))
    return out


def mode(value: str) -> memory_pb2.RetrievalMode:
    try:
        return _MODES[value]
    except KeyError:
        raise ValueError(f"mode {value!r} is not one of {', '.join(_MODES)}") from None


# -- responses -----------------------------------------------------------------------------------


def _dt(ts: timestamp_pb2.Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def memory(m: common_pb2.Memory) -> Memory:
    return Memory(
        id=m.id,
        text=m.text,
        user_id=m.scope.user_id,
        agent_id=m.scope.agent_id,
        run_id=m.scope.run_id,
        metadata=json_format.MessageToDict(m.metadata),
        created_at=_dt(m.created_at),
        updated_at=_dt(m.updated_at),
        reference_time=_dt(m.reference_time),
        triples=tuple(Triple(t.subject, t.predicate, t.object, t.subject_type, t.object_type) for t in m.triples),
        state=_STATES.get(m.state, "unspecified"),
        episode_id=m.episode_id,
        version=m.version,
    )


def edge(e: common_pb2.Edge) -> Edge:
    return Edge(e.subject, e.predicate, e.object, e.memory_id)


def path(p: common_pb2.GraphPath) -> GraphPath:
    return GraphPath(start=p.start, edges=tuple(edge(e) for e in p.edges), text=p.text)


def add_result(r: memory_pb2.AddResponse) -> AddResult:
    events = tuple(MemoryEvent(_EVENTS.get(x.event, "unspecified"), memory(x.memory)) for x in r.results)
    return AddResult(episode_id=r.episode_id, events=events)


def hits(r: memory_pb2.SearchResponse) -> list[SearchHit]:
    return [
        SearchHit(
            memory=memory(h.memory),
            score=h.score,
            retrievers=tuple(_RETRIEVERS.get(x, "unspecified") for x in h.retrievers),
            paths=tuple(path(p) for p in h.paths),
            vector_score=h.vector_score if h.HasField("vector_score") else None,
        )
        for h in r.hits
    ]


def history(r: memory_pb2.HistoryResponse) -> list[HistoryEntry]:
    return [
        HistoryEntry(e.memory_id, _EVENTS.get(e.event, "unspecified"), e.old_text, e.new_text, _dt(e.at))
        for e in r.entries
    ]


def subgraph(r: graph_pb2.SubgraphResponse) -> Subgraph:
    return Subgraph(entities=tuple(Entity(e.name, e.type) for e in r.entities), edges=tuple(edge(e) for e in r.edges))


def verify_report(r: admin_pb2.VerifyResponse) -> VerifyReport:
    return VerifyReport(
        memories=r.memories,
        vectors=r.vectors,
        missing_vectors=tuple(r.missing_vectors),
        orphan_vectors=tuple(r.orphan_vectors),
        consistent=r.consistent,
    )
