"""Protobuf <-> domain conversion. No logic beyond shape and type mapping."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import duration_pb2, json_format, struct_pb2, timestamp_pb2

from recalld.core.importer import ImportItem, ImportReport
from recalld.core.indexing import VerifyReport
from recalld.core.operations import decode_results
from recalld.core.profile import ProfileValue
from recalld.kernel import domain as d
from recalld.kernel.errors import InvalidArgument
from recalld.kernel.requests import AddCommand, SearchQuery
from recalld.server.api.authz import parsed_scope
from recalld.v1 import admin_pb2, common_pb2, graph_pb2, memory_pb2

_MODES: dict[int, d.SearchMode] = {
    memory_pb2.RETRIEVAL_MODE_UNSPECIFIED: d.SearchMode.HYBRID,
    memory_pb2.RETRIEVAL_MODE_HYBRID: d.SearchMode.HYBRID,
    memory_pb2.RETRIEVAL_MODE_VECTOR: d.SearchMode.VECTOR,
    memory_pb2.RETRIEVAL_MODE_GRAPH: d.SearchMode.GRAPH,
}
_OPS: dict[int, d.FilterOp] = {
    memory_pb2.FILTER_OP_EQ: d.FilterOp.EQ,
    memory_pb2.FILTER_OP_NE: d.FilterOp.NE,
    memory_pb2.FILTER_OP_GT: d.FilterOp.GT,
    memory_pb2.FILTER_OP_GTE: d.FilterOp.GTE,
    memory_pb2.FILTER_OP_LT: d.FilterOp.LT,
    memory_pb2.FILTER_OP_LTE: d.FilterOp.LTE,
    memory_pb2.FILTER_OP_IN: d.FilterOp.IN,
}
_EVENTS = {
    d.EventKind.ADD: memory_pb2.EVENT_ADD,
    d.EventKind.UPDATE: memory_pb2.EVENT_UPDATE,
    d.EventKind.DELETE: memory_pb2.EVENT_DELETE,
    d.EventKind.NOOP: memory_pb2.EVENT_NOOP,
    d.EventKind.INVALIDATE: memory_pb2.EVENT_INVALIDATE,
}
_STATES = {d.MemoryState.ACTIVE: common_pb2.MEMORY_STATE_ACTIVE, d.MemoryState.DELETED: common_pb2.MEMORY_STATE_DELETED}
_RETRIEVERS = {
    d.Retriever.VECTOR: memory_pb2.RETRIEVER_VECTOR,
    d.Retriever.GRAPH: memory_pb2.RETRIEVER_GRAPH,
    d.Retriever.LEXICAL: memory_pb2.RETRIEVER_LEXICAL,
}
_LEVELS = {
    d.Level.USER: common_pb2.LEVEL_USER,
    d.Level.SESSION: common_pb2.LEVEL_SESSION,
    d.Level.AGENT: common_pb2.LEVEL_AGENT,
    d.Level.SHARED: common_pb2.LEVEL_SHARED,
}
_LEVELS_IN: dict[int, d.Level] = {int(v): k for k, v in _LEVELS.items()}
_OP_STATUS = {
    d.OperationStatus.PENDING: memory_pb2.OPERATION_STATUS_PENDING,
    d.OperationStatus.RUNNING: memory_pb2.OPERATION_STATUS_RUNNING,
    d.OperationStatus.SUCCEEDED: memory_pb2.OPERATION_STATUS_SUCCEEDED,
    d.OperationStatus.FAILED: memory_pb2.OPERATION_STATUS_FAILED,
}


def _integral(v: Any) -> Any:
    """Struct numbers are doubles; keep 3.0 as 3 so JSON stores what the caller meant."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    if isinstance(v, list):
        return [_integral(x) for x in v]
    if isinstance(v, dict):
        return {k: _integral(x) for k, x in v.items()}
    return v


def scope(msg: common_pb2.Scope) -> d.Scope:
    held = parsed_scope(msg)  # the request's own scope, parsed once by the guard
    if held is not None:
        return held
    return d.Scope(user_id=msg.user_id, agent_id=msg.agent_id, run_id=msg.run_id)


def metadata(msg: struct_pb2.Struct) -> dict[str, Any]:
    result: dict[str, Any] = _integral(json_format.MessageToDict(msg))
    return result


def timestamp(msg: timestamp_pb2.Timestamp) -> datetime:
    return msg.ToDatetime(tzinfo=UTC)


def optional_timestamp(parent: Any, field: str) -> datetime | None:
    return timestamp(getattr(parent, field)) if parent.HasField(field) else None


def messages(msgs: Iterable[memory_pb2.Message]) -> list[d.ChatMessage]:
    return [d.ChatMessage(role=m.role, content=m.content, name=m.name) for m in msgs]


def filters(msgs: Iterable[memory_pb2.MetadataFilter]) -> list[d.MetadataFilter]:
    out = []
    for i, f in enumerate(msgs):
        if f.op not in _OPS:
            raise InvalidArgument(f"filters[{i}].op must be set (EQ, NE, GT, GTE, LT, LTE or IN)")
        if not f.HasField("value"):
            raise InvalidArgument(f"filters[{i}].value must be set")
        out.append(d.MetadataFilter(key=f.key, op=_OPS[f.op], value=_integral(json_format.MessageToDict(f.value))))
    return out


def levels(values: Iterable[int]) -> list[d.Level]:
    out = []
    for i, v in enumerate(values):
        if v not in _LEVELS_IN:
            raise InvalidArgument(f"levels[{i}] must be USER, SESSION, AGENT or SHARED")
        out.append(_LEVELS_IN[v])
    return list(dict.fromkeys(out))


def attributes(msgs: Iterable[common_pb2.Attribute]) -> list[d.Attribute]:
    return [d.Attribute(a.name, a.value) for a in msgs]


def is_async(req: memory_pb2.AddRequest) -> bool:
    if req.mode not in (memory_pb2.ADD_MODE_UNSPECIFIED, memory_pb2.ADD_MODE_SYNC, memory_pb2.ADD_MODE_ASYNC):
        raise InvalidArgument(f"mode {req.mode} is not an Add mode (SYNC or ASYNC)")
    return req.mode == memory_pb2.ADD_MODE_ASYNC


def ttl(req: memory_pb2.AddRequest | memory_pb2.ImportItem) -> timedelta | None:
    if not req.HasField("ttl"):
        return None
    d_: duration_pb2.Duration = req.ttl
    return d_.ToTimedelta()


def add_command(req: memory_pb2.AddRequest) -> AddCommand:
    """An AddRequest as the core's request object (built once, here)."""
    return AddCommand(
        scope(req.scope),
        messages(req.messages),
        metadata=metadata(req.metadata),
        reference_time=optional_timestamp(req, "reference_time"),
        infer=req.infer if req.HasField("infer") else True,
        importance=req.importance if req.HasField("importance") else None,
        ttl=ttl(req),
    )


def search_query(req: memory_pb2.SearchRequest) -> SearchQuery:
    """A SearchRequest as the core's request object (built once, here)."""
    return SearchQuery(
        scope(req.scope),
        req.query,
        limit=req.limit,
        threshold=req.threshold,
        filters=filters(req.filters),
        mode=mode(req.mode),
        time_range=time_range(req),
        validity=validity(req),
        levels=levels(req.levels),
        attributes=attributes(req.attributes),
    )


def mode(value: int) -> d.SearchMode:
    if value not in _MODES:
        raise InvalidArgument(f"mode {value} is not a retrieval mode")
    return _MODES[value]


def validity(msg: Any, as_of_field: str = "as_of") -> d.Validity:
    """From a message with ``as_of`` and ``include_retired`` (SearchRequest, ValidityFilter)."""
    if msg.include_retired:
        return d.ANY_VALIDITY
    as_of = optional_timestamp(msg, as_of_field)
    return d.CURRENT if as_of is None else d.Validity(as_of=as_of)


def validity_at(msg: Any, as_of_field: str) -> d.Validity:
    """What holds now, or at ``as_of`` when set."""
    as_of = optional_timestamp(msg, as_of_field)
    return d.CURRENT if as_of is None else d.Validity(as_of=as_of)


def graph_validity(req: graph_pb2.SubgraphRequest | graph_pb2.PathsRequest) -> d.Validity:
    return validity(req.validity) if req.HasField("validity") else d.CURRENT


def time_range(req: memory_pb2.SearchRequest) -> d.TimeRange | None:
    if not req.HasField("time_range"):
        return None
    tr = req.time_range
    return d.TimeRange(start=optional_timestamp(tr, "start"), end=optional_timestamp(tr, "end"))


def _ts(dt: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(dt)
    return ts


def _struct(m: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(dict(m))
    return s


def _triple_msgs(triples: Iterable[d.Triple]) -> list[common_pb2.Triple]:
    return [
        common_pb2.Triple(
            subject=t.subject,
            predicate=t.predicate,
            object=t.object,
            subject_type=t.subject_type,
            object_type=t.object_type,
        )
        for t in triples
    ]


def _opt_ts(dt: datetime | None) -> timestamp_pb2.Timestamp | None:
    return None if dt is None else _ts(dt)


def memory_msg(m: d.Memory) -> common_pb2.Memory:
    return common_pb2.Memory(
        id=m.id,
        text=m.text,
        scope=common_pb2.Scope(user_id=m.scope.user_id, agent_id=m.scope.agent_id, run_id=m.scope.run_id),
        metadata=_struct(m.metadata),
        created_at=_ts(m.created_at),
        updated_at=_ts(m.updated_at),
        reference_time=_ts(m.reference_time),
        triples=_triple_msgs(m.triples),
        state=_STATES[m.state],
        episode_id=m.episode_id,
        version=m.version,
        valid_from=_opt_ts(m.valid_from),
        valid_to=_opt_ts(m.valid_to),
        retired_at=_opt_ts(m.retired_at),
        superseded_by=m.superseded_by,
        retired_by_rule=m.retired_by_rule,
        confirmations=m.confirmations,
        confirmed_at=_opt_ts(m.confirmed_at),
        importance=m.importance,
        last_used_at=_opt_ts(m.last_used_at),
        expires_at=_opt_ts(m.expires_at),
        attributes=[common_pb2.Attribute(name=a.name, value=a.value) for a in m.attributes],
        speaker=m.speaker,
    )


def edge_msg(e: d.Edge) -> common_pb2.Edge:
    return common_pb2.Edge(
        subject=e.subject,
        predicate=e.predicate,
        object=e.object,
        memory_id=e.memory_id,
        valid_from=_opt_ts(e.valid_from),
        valid_to=_opt_ts(e.valid_to),
    )


def path_msg(p: d.Path) -> common_pb2.GraphPath:
    return common_pb2.GraphPath(start=p.start, edges=[edge_msg(e) for e in p.edges], text=p.render())


def add_response(episode_id: str, events: Iterable[d.MemoryEvent]) -> memory_pb2.AddResponse:
    return memory_pb2.AddResponse(
        episode_id=episode_id,
        results=[
            memory_pb2.MemoryResult(
                memory=memory_msg(e.memory), event=_EVENTS[e.event], rule=e.rule, related_ids=list(e.related_ids)
            )
            for e in events
        ],
    )


def search_response(hits: Iterable[d.SearchHit]) -> memory_pb2.SearchResponse:
    out = memory_pb2.SearchResponse()
    for h in hits:
        hit = out.hits.add(
            memory=memory_msg(h.memory),
            score=h.score,
            retrievers=[_RETRIEVERS[r] for r in h.retrievers],
            paths=[path_msg(p) for p in h.paths],
            retired=not h.memory.current,
            level=_LEVELS[h.level],
            relevance=h.relevance,
            weight=h.weight,
        )
        if h.vector_score is not None:
            hit.vector_score = h.vector_score
    return out


def history_response(entries: Iterable[d.HistoryEntry]) -> memory_pb2.HistoryResponse:
    return memory_pb2.HistoryResponse(
        entries=[
            memory_pb2.HistoryEntry(
                memory_id=h.memory_id,
                event=_EVENTS[h.event],
                old_text=h.old_text,
                new_text=h.new_text,
                at=_ts(h.at),
                actor=h.actor,
                rule=h.rule,
                episode_id=h.episode_id,
                old_triples=_triple_msgs(h.old_triples),
                new_triples=_triple_msgs(h.new_triples),
            )
            for h in entries
        ]
    )


def operation_msg(op: d.Operation) -> memory_pb2.Operation:
    return memory_pb2.Operation(
        id=op.id,
        scope=common_pb2.Scope(user_id=op.scope.user_id, agent_id=op.scope.agent_id, run_id=op.scope.run_id),
        status=_OP_STATUS[op.status],
        created_at=_ts(op.created_at),
        updated_at=_ts(op.updated_at),
        attempts=op.attempts,
        error=op.error,
        results=[
            memory_pb2.OperationResult(
                memory_id=r.memory_id, event=_EVENTS[d.EventKind(r.event)], rule=r.rule, related_ids=list(r.related_ids)
            )
            for r in decode_results(op)
        ],
        recovered=bool(op.result and json.loads(op.result).get("recovered")),
    )


def profile_response(values: Iterable[ProfileValue]) -> memory_pb2.ProfileResponse:
    return memory_pb2.ProfileResponse(
        attributes=[
            memory_pb2.ProfileAttribute(
                name=v.name,
                value=v.value,
                category=v.category,
                multi_valued=v.multi,
                valid_from=_opt_ts(v.valid_from),
                sources=[memory_msg(m) for m in v.memories],
            )
            for v in values
        ]
    )


def grant_msg(g: d.Grant) -> memory_pb2.Grant:
    return memory_pb2.Grant(
        id=g.id,
        user_id=g.user_id,
        owner_agent=g.owner_agent,
        grantee_agent=g.grantee_agent,
        granted_at=_ts(g.granted_at),
        granted_by=g.granted_by,
        revoked_at=_opt_ts(g.revoked_at),
        revoked_by=g.revoked_by,
    )


def subgraph_response(sg: d.Subgraph) -> graph_pb2.SubgraphResponse:
    return graph_pb2.SubgraphResponse(
        entities=[graph_pb2.Entity(name=n.name, type=n.type, aliases=list(n.aliases)) for n in sg.nodes],
        edges=[edge_msg(e) for e in sg.edges],
    )


def verify_response(r: VerifyReport, sample: int = 100) -> admin_pb2.VerifyResponse:
    return admin_pb2.VerifyResponse(
        memories=r.memories,
        vectors=r.vectors,
        missing_vectors=list(r.missing_vectors[:sample]),
        orphan_vectors=list(r.orphan_vectors[:sample]),
        consistent=r.consistent,
        orphan_relations=r.graph.orphan_relations,
        orphan_entities=r.graph.orphan_entities,
        orphan_relation_samples=list(r.graph.relation_samples),
        orphan_entity_samples=list(r.graph.entity_samples),
    )


def role(value: int) -> d.Role:
    if value == admin_pb2.ROLE_UNSPECIFIED:
        return d.Role.READ
    try:
        return d.Role(value)
    except ValueError:
        raise InvalidArgument(f"role {value} is not a role (ROLE_READ, ROLE_WRITE or ROLE_ADMIN)") from None


def api_key_msg(k: d.ApiKey) -> admin_pb2.ApiKey:
    msg = admin_pb2.ApiKey(
        id=k.id, tenant=k.tenant, name=k.name, role=admin_pb2.Role.Name(int(k.role)), user_ids=sorted(k.users),
        agent_ids=sorted(k.agents), created_at=_ts(k.created_at), created_by=k.created_by, revoked_by=k.revoked_by,
    )  # fmt: skip
    if k.revoked_at is not None:
        msg.revoked_at.CopyFrom(_ts(k.revoked_at))
    return msg


def erase_receipt(e: d.Erasure) -> admin_pb2.EraseReceipt:
    c = e.counts
    msg = admin_pb2.EraseReceipt(
        id=e.id, scope=common_pb2.Scope(user_id=e.scope.user_id, agent_id=e.scope.agent_id, run_id=e.scope.run_id),
        memories=c.memories, relations=c.relations, entities=c.entities, episodes=c.episodes,
        history_entries=c.history_entries, vectors=c.vectors, operations=c.operations, grants=c.grants,
        requested_at=_ts(e.requested_at),
    )  # fmt: skip
    if e.completed_at is not None:
        msg.completed_at.CopyFrom(_ts(e.completed_at))
    return msg


def import_item(msg: memory_pb2.ImportItem) -> ImportItem:
    return ImportItem(
        source_id=msg.source_id,
        scope=scope(msg.scope),
        messages=tuple(messages(msg.messages)),
        metadata=metadata(msg.metadata),
        reference_time=optional_timestamp(msg, "reference_time"),
        infer=msg.infer if msg.HasField("infer") else True,
        importance=msg.importance if msg.HasField("importance") else None,
        ttl=ttl(msg),
    )


def import_response(report: ImportReport) -> memory_pb2.ImportResponse:
    return memory_pb2.ImportResponse(
        received=report.received,
        imported=report.imported,
        skipped_duplicates=report.skipped_duplicates,
        memories_written=report.memories_written,
    )
