"""Thin servicers: convert the request, call the core, convert the result."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import TypeAlias

import grpc

from recalld.core.importer import Importer, ImportItem
from recalld.kernel.domain import Operation
from recalld.kernel.errors import NotFound
from recalld.server.api import converters as conv
from recalld.server.api.authn import current_principal
from recalld.server.api.errors import translated, translated_stream
from recalld.server.app import App, Tenant
from recalld.server.keys import ApiKeys
from recalld.v1 import admin_pb2, admin_pb2_grpc, graph_pb2, graph_pb2_grpc, memory_pb2, memory_pb2_grpc

Ctx: TypeAlias = grpc.aio.ServicerContext


class _TenantServicer:
    """Every call runs against the caller's tenant (the credential's, set by the guard): only that
    tenant's stores are ever opened for it."""

    def __init__(self, app: App) -> None:
        self._app = app

    async def _tenant(self) -> Tenant:
        return await self._app.tenant(current_principal().tenant)


class MemoryServicer(_TenantServicer, memory_pb2_grpc.MemoryServiceServicer):
    @translated
    async def Add(self, request: memory_pb2.AddRequest, context: Ctx) -> memory_pb2.AddResponse:
        t = await self._tenant()
        cmd = conv.add_command(request)
        if conv.is_async(request):
            op = await t.operations.submit(cmd)
            return memory_pb2.AddResponse(episode_id=op.id, operation_id=op.id)
        episode_id, events = await t.memories.add(cmd)
        return conv.add_response(episode_id, events)

    @translated
    async def Import(
        self, request_iterator: AsyncIterable[memory_pb2.ImportRequest], context: Ctx
    ) -> memory_pb2.ImportResponse:
        """Each item's scope is authorized by the guard as it is read (it wraps the stream)."""
        t = await self._tenant()
        report = await Importer(t.memories).run(_import_items(request_iterator))
        return conv.import_response(report)

    @translated
    async def Search(self, request: memory_pb2.SearchRequest, context: Ctx) -> memory_pb2.SearchResponse:
        t = await self._tenant()
        hits = await t.retriever.search(conv.search_query(request))
        return conv.search_response(hits)

    @translated
    async def Get(self, request: memory_pb2.GetRequest, context: Ctx) -> memory_pb2.GetResponse:
        t = await self._tenant()
        memory = await t.memories.get(conv.scope(request.scope), request.memory_id)
        return memory_pb2.GetResponse(memory=conv.memory_msg(memory))

    @translated
    async def List(self, request: memory_pb2.ListRequest, context: Ctx) -> memory_pb2.ListResponse:
        t = await self._tenant()
        page, token = await t.memories.list_memories(
            conv.scope(request.scope),
            page_size=request.page_size,
            page_token=request.page_token,
            filters=conv.filters(request.filters),
            include_retired=not request.current_only,
        )
        return memory_pb2.ListResponse(memories=[conv.memory_msg(m) for m in page], next_page_token=token)

    @translated
    async def Update(self, request: memory_pb2.UpdateRequest, context: Ctx) -> memory_pb2.UpdateResponse:
        t = await self._tenant()
        metadata = conv.metadata(request.metadata) if request.HasField("metadata") else None
        memory = await t.memories.update(
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
        t = await self._tenant()
        await t.memories.delete(conv.scope(request.scope), request.memory_id, expected_version=request.expected_version)
        return memory_pb2.DeleteResponse()

    @translated
    async def DeleteAll(self, request: memory_pb2.DeleteAllRequest, context: Ctx) -> memory_pb2.DeleteAllResponse:
        t = await self._tenant()
        count = await t.memories.delete_all(conv.scope(request.scope))
        return memory_pb2.DeleteAllResponse(deleted_count=count)

    @translated
    async def History(self, request: memory_pb2.HistoryRequest, context: Ctx) -> memory_pb2.HistoryResponse:
        t = await self._tenant()
        entries = await t.memories.history(conv.scope(request.scope), request.memory_id)
        return conv.history_response(entries)

    @translated
    async def GetOperation(
        self, request: memory_pb2.GetOperationRequest, context: Ctx
    ) -> memory_pb2.GetOperationResponse:
        t = await self._tenant()
        return memory_pb2.GetOperationResponse(
            operation=conv.operation_msg(_visible(await t.operations.get(request.operation_id)))
        )

    @translated_stream
    async def WatchOperations(
        self, request: memory_pb2.WatchOperationsRequest, context: Ctx
    ) -> AsyncIterator[memory_pb2.WatchOperationsResponse]:
        t = await self._tenant()
        async for op in t.operations.watch(list(request.operation_ids)):
            yield memory_pb2.WatchOperationsResponse(operation=conv.operation_msg(_visible(op)))

    @translated
    async def Profile(self, request: memory_pb2.ProfileRequest, context: Ctx) -> memory_pb2.ProfileResponse:
        t = await self._tenant()
        scope = conv.scope(request.scope)
        values = await t.memories.profile(
            await t.retriever.views(scope, conv.levels(request.levels)), conv.validity_at(request, "as_of")
        )
        return conv.profile_response(values)

    @translated
    async def MarkUsed(self, request: memory_pb2.MarkUsedRequest, context: Ctx) -> memory_pb2.MarkUsedResponse:
        t = await self._tenant()
        n = await t.memories.mark_used(conv.scope(request.scope), list(request.memory_ids))
        return memory_pb2.MarkUsedResponse(marked_count=n)

    @translated
    async def GrantAccess(self, request: memory_pb2.GrantAccessRequest, context: Ctx) -> memory_pb2.GrantAccessResponse:
        t = await self._tenant()
        grant = await t.sharing.grant(request.user_id, request.owner_agent, request.grantee_agent)
        return memory_pb2.GrantAccessResponse(grant=conv.grant_msg(grant))

    @translated
    async def RevokeAccess(
        self, request: memory_pb2.RevokeAccessRequest, context: Ctx
    ) -> memory_pb2.RevokeAccessResponse:
        t = await self._tenant()
        await t.sharing.revoke(request.user_id, request.owner_agent, request.grantee_agent)
        return memory_pb2.RevokeAccessResponse()

    @translated
    async def ListGrants(self, request: memory_pb2.ListGrantsRequest, context: Ctx) -> memory_pb2.ListGrantsResponse:
        t = await self._tenant()
        grants = await t.sharing.list(
            request.user_id,
            owner_agent=request.owner_agent,
            grantee_agent=request.grantee_agent,
            include_revoked=request.include_revoked,
        )
        return memory_pb2.ListGrantsResponse(grants=[conv.grant_msg(g) for g in grants])


class GraphServicer(_TenantServicer, graph_pb2_grpc.GraphServiceServicer):
    @translated
    async def Subgraph(self, request: graph_pb2.SubgraphRequest, context: Ctx) -> graph_pb2.SubgraphResponse:
        t = await self._tenant()
        sub = await t.explorer.subgraph(
            conv.scope(request.scope),
            request.entity,
            depth=request.depth,
            limit=request.limit,
            validity=conv.graph_validity(request),
        )
        return conv.subgraph_response(sub)

    @translated
    async def Paths(self, request: graph_pb2.PathsRequest, context: Ctx) -> graph_pb2.PathsResponse:
        t = await self._tenant()
        paths = await t.explorer.paths(
            conv.scope(request.scope),
            request.source,
            request.target,
            max_depth=request.max_depth,
            limit=request.limit,
            validity=conv.graph_validity(request),
        )
        return graph_pb2.PathsResponse(paths=[conv.path_msg(p) for p in paths])


class AdminServicer(_TenantServicer, admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, app: App, keys: ApiKeys) -> None:
        super().__init__(app)
        self._keys = keys

    @translated
    async def Verify(self, request: admin_pb2.VerifyRequest, context: Ctx) -> admin_pb2.VerifyResponse:
        t = await self._tenant()
        return conv.verify_response(await t.indexer.verify())

    @translated
    async def Reindex(self, request: admin_pb2.ReindexRequest, context: Ctx) -> admin_pb2.ReindexResponse:
        t = await self._tenant()
        upserted, deleted = await t.indexer.reindex(full=request.full)
        return admin_pb2.ReindexResponse(upserted=upserted, deleted=deleted)

    @translated
    async def CreateApiKey(
        self, request: admin_pb2.CreateApiKeyRequest, context: Ctx
    ) -> admin_pb2.CreateApiKeyResponse:
        key, token = await self._keys.create(
            current_principal(),
            tenant=request.tenant,
            name=request.name,
            role=conv.role(request.role),
            users=list(request.user_ids),
            agents=list(request.agent_ids),
        )
        return admin_pb2.CreateApiKeyResponse(key=conv.api_key_msg(key), token=token)

    @translated
    async def ListApiKeys(self, request: admin_pb2.ListApiKeysRequest, context: Ctx) -> admin_pb2.ListApiKeysResponse:
        keys = await self._keys.list(current_principal(), request.tenant, include_revoked=request.include_revoked)
        return admin_pb2.ListApiKeysResponse(keys=[conv.api_key_msg(k) for k in keys])

    @translated
    async def RevokeApiKey(
        self, request: admin_pb2.RevokeApiKeyRequest, context: Ctx
    ) -> admin_pb2.RevokeApiKeyResponse:
        key = await self._keys.revoke(current_principal(), request.key_id)
        return admin_pb2.RevokeApiKeyResponse(key=conv.api_key_msg(key))

    @translated
    async def Erase(self, request: admin_pb2.EraseRequest, context: Ctx) -> admin_pb2.EraseResponse:
        t = await self._tenant()
        principal = current_principal()
        erasure = await t.eraser.erase(conv.scope(request.scope), requested_by=f"{principal.method}:{principal.name}")
        return admin_pb2.EraseResponse(receipt=conv.erase_receipt(erasure))


async def _import_items(requests: AsyncIterable[memory_pb2.ImportRequest]) -> AsyncIterator[ImportItem]:
    async for request in requests:
        for item in request.items:
            yield conv.import_item(item)


def _visible(op: Operation) -> Operation:
    """An operation outside the caller's users/agents does not exist for it."""
    if not current_principal().allows(op.scope):
        raise NotFound(f"operation {op.id} not found")
    return op
