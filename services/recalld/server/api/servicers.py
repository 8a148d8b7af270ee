"""Thin servicers: convert the request, call the core, convert the result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeAlias

import grpc

from recalld.server.api import converters as conv
from recalld.server.api.errors import translated, translated_stream
from recalld.server.app import App
from recalld.v1 import admin_pb2, admin_pb2_grpc, graph_pb2, graph_pb2_grpc, memory_pb2, memory_pb2_grpc

Ctx: TypeAlias = grpc.aio.ServicerContext


class MemoryServicer(memory_pb2_grpc.MemoryServiceServicer):
    def __init__(self, app: App) -> None:
        self._m = app.memories
        self._r = app.retriever
        self._ops = app.operations
        self._sharing = app.sharing

    @translated
    async def Add(self, request: memory_pb2.AddRequest, context: Ctx) -> memory_pb2.AddResponse:
        scope, msgs = conv.scope(request.scope), conv.messages(request.messages)
        meta = conv.metadata(request.metadata)
        ref = conv.optional_timestamp(request, "reference_time")
        infer = request.infer if request.HasField("infer") else True
        importance = request.importance if request.HasField("importance") else None
        ttl = conv.ttl(request)
        if conv.is_async(request):
            op = await self._ops.submit(
                scope, msgs, metadata=meta, reference_time=ref, infer=infer, importance=importance, ttl=ttl
            )
            return memory_pb2.AddResponse(episode_id=op.id, operation_id=op.id)
        episode_id, events = await self._m.add(
            scope, msgs, metadata=meta, reference_time=ref, infer=infer, importance=importance, ttl=ttl
        )
        return conv.add_response(episode_id, events)

    @translated
    async def Search(self, request: memory_pb2.SearchRequest, context: Ctx) -> memory_pb2.SearchResponse:
        hits = await self._r.search(
            conv.scope(request.scope),
            request.query,
            limit=request.limit,
            threshold=request.threshold,
            filters=conv.filters(request.filters),
            mode=conv.mode(request.mode),
            time_range=conv.time_range(request),
            validity=conv.validity(request),
            levels=conv.levels(request.levels),
            attributes=conv.attributes(request.attributes),
        )
        return conv.search_response(hits)

    @translated
    async def Get(self, request: memory_pb2.GetRequest, context: Ctx) -> memory_pb2.GetResponse:
        memory = await self._m.get(conv.scope(request.scope), request.memory_id)
        return memory_pb2.GetResponse(memory=conv.memory_msg(memory))

    @translated
    async def List(self, request: memory_pb2.ListRequest, context: Ctx) -> memory_pb2.ListResponse:
        page, token = await self._m.list_memories(
            conv.scope(request.scope),
            page_size=request.page_size,
            page_token=request.page_token,
            filters=conv.filters(request.filters),
            include_retired=not request.current_only,
        )
        return memory_pb2.ListResponse(memories=[conv.memory_msg(m) for m in page], next_page_token=token)

    @translated
    async def Update(self, request: memory_pb2.UpdateRequest, context: Ctx) -> memory_pb2.UpdateResponse:
        metadata = conv.metadata(request.metadata) if request.HasField("metadata") else None
        memory = await self._m.update(
            conv.scope(request.scope),
            request.memory_id,
            request.text,
            metadata,
            expected_version=request.expected_version,
            expires_at=conv.optional_timestamp(request, "expires_at"),
            clear_expiry=request.clear_expiry,
            importance=request.importance if request.HasField("importance") else None,
        )
        return memory_pb2.UpdateResponse(memory=conv.memory_msg(memory))

    @translated
    async def Delete(self, request: memory_pb2.DeleteRequest, context: Ctx) -> memory_pb2.DeleteResponse:
        await self._m.delete(conv.scope(request.scope), request.memory_id, expected_version=request.expected_version)
        return memory_pb2.DeleteResponse()

    @translated
    async def DeleteAll(self, request: memory_pb2.DeleteAllRequest, context: Ctx) -> memory_pb2.DeleteAllResponse:
        count = await self._m.delete_all(conv.scope(request.scope))
        return memory_pb2.DeleteAllResponse(deleted_count=count)

    @translated
    async def History(self, request: memory_pb2.HistoryRequest, context: Ctx) -> memory_pb2.HistoryResponse:
        entries = await self._m.history(conv.scope(request.scope), request.memory_id)
        return conv.history_response(entries)

    @translated
    async def GetOperation(
        self, request: memory_pb2.GetOperationRequest, context: Ctx
    ) -> memory_pb2.GetOperationResponse:
        return memory_pb2.GetOperationResponse(operation=conv.operation_msg(await self._ops.get(request.operation_id)))

    @translated_stream
    async def WatchOperations(
        self, request: memory_pb2.WatchOperationsRequest, context: Ctx
    ) -> AsyncIterator[memory_pb2.WatchOperationsResponse]:
        async for op in self._ops.watch(list(request.operation_ids)):
            yield memory_pb2.WatchOperationsResponse(operation=conv.operation_msg(op))

    @translated
    async def Profile(self, request: memory_pb2.ProfileRequest, context: Ctx) -> memory_pb2.ProfileResponse:
        scope = conv.scope(request.scope)
        values = await self._m.profile(
            await self._r.views(scope, conv.levels(request.levels)), conv.validity_at(request, "as_of")
        )
        return conv.profile_response(values)

    @translated
    async def MarkUsed(self, request: memory_pb2.MarkUsedRequest, context: Ctx) -> memory_pb2.MarkUsedResponse:
        n = await self._m.mark_used(conv.scope(request.scope), list(request.memory_ids))
        return memory_pb2.MarkUsedResponse(marked_count=n)

    @translated
    async def GrantAccess(self, request: memory_pb2.GrantAccessRequest, context: Ctx) -> memory_pb2.GrantAccessResponse:
        grant = await self._sharing.grant(request.user_id, request.owner_agent, request.grantee_agent)
        return memory_pb2.GrantAccessResponse(grant=conv.grant_msg(grant))

    @translated
    async def RevokeAccess(
        self, request: memory_pb2.RevokeAccessRequest, context: Ctx
    ) -> memory_pb2.RevokeAccessResponse:
        await self._sharing.revoke(request.user_id, request.owner_agent, request.grantee_agent)
        return memory_pb2.RevokeAccessResponse()

    @translated
    async def ListGrants(self, request: memory_pb2.ListGrantsRequest, context: Ctx) -> memory_pb2.ListGrantsResponse:
        grants = await self._sharing.list(
            request.user_id,
            owner_agent=request.owner_agent,
            grantee_agent=request.grantee_agent,
            include_revoked=request.include_revoked,
        )
        return memory_pb2.ListGrantsResponse(grants=[conv.grant_msg(g) for g in grants])


class GraphServicer(graph_pb2_grpc.GraphServiceServicer):
    def __init__(self, app: App) -> None:
        self._g = app.explorer

    @translated
    async def Subgraph(self, request: graph_pb2.SubgraphRequest, context: Ctx) -> graph_pb2.SubgraphResponse:
        sub = await self._g.subgraph(
            conv.scope(request.scope),
            request.entity,
            depth=request.depth,
            limit=request.limit,
            validity=conv.graph_validity(request),
        )
        return conv.subgraph_response(sub)

    @translated
    async def Paths(self, request: graph_pb2.PathsRequest, context: Ctx) -> graph_pb2.PathsResponse:
        paths = await self._g.paths(
            conv.scope(request.scope),
            request.source,
            request.target,
            max_depth=request.max_depth,
            limit=request.limit,
            validity=conv.graph_validity(request),
        )
        return graph_pb2.PathsResponse(paths=[conv.path_msg(p) for p in paths])


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, app: App) -> None:
        self._i = app.indexer

    @translated
    async def Verify(self, request: admin_pb2.VerifyRequest, context: Ctx) -> admin_pb2.VerifyResponse:
        return conv.verify_response(await self._i.verify())

    @translated
    async def Reindex(self, request: admin_pb2.ReindexRequest, context: Ctx) -> admin_pb2.ReindexResponse:
        upserted, deleted = await self._i.reindex(full=request.full)
        return admin_pb2.ReindexResponse(upserted=upserted, deleted=deleted)
