"""The asyncio client: the one implementation (the blocking client wraps it)."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import grpc

from recalld.client import _convert as conv
from recalld.client import _rpc
from recalld.client._errors import Internal, from_rpc_error
from recalld.client._types import (
    DEFAULT_RETRY,
    AddMode,
    AddResult,
    ApiKey,
    EraseReceipt,
    Grant,
    GraphPath,
    HistoryEntry,
    ImportResult,
    Memory,
    Mode,
    Operation,
    Page,
    ProfileAttribute,
    RetryPolicy,
    SearchHit,
    Subgraph,
    VerifyReport,
)
from recalld.v1 import admin_pb2, admin_pb2_grpc, graph_pb2, graph_pb2_grpc, memory_pb2, memory_pb2_grpc

R = TypeVar("R")
DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 30.0
WATCH_LIMIT = 100  # operation ids one WatchOperations stream follows


class AsyncRecalld:
    """A recalld server, from asyncio code::

        async with AsyncRecalld("127.0.0.1:50051") as memory:
            await memory.add("My cat Luna caught a cold.", user_id="alice")
            hits = await memory.search("how is my pet?", user_id="alice")

    Verbs: add, search, get, list / iterate, update, delete, delete_all, history (memories);
    get_operation, watch_operations, wait_operations (asynchronous adds); profile, mark_used
    (living memory); grant_access, revoke_access, list_grants (sharing between agents); subgraph,
    paths (graph); verify, reindex (operators).

    Every call has a deadline (``timeout`` seconds, per client or per call; it covers the
    retries) and is retried with exponential backoff and jitter when, and only when, it fails
    with UNAVAILABLE (``retry``, a :class:`RetryPolicy`). Failures raise
    :class:`recalld.client.RecalldError` subclasses carrying the status and the server's message;
    bad local input (no scope, a naive datetime, an unknown filter op, mode or level, a ttl that
    is not positive) raises ``ValueError`` before anything is sent.

    Transport security is pluggable: ``credentials`` (e.g. ``grpc.ssl_channel_credentials(...)``)
    makes a TLS channel; ``call_credentials`` (e.g. ``grpc.access_token_call_credentials(token)``)
    and ``metadata`` (sent with every call, e.g. ``[("authorization", "Bearer ...")]``) carry
    identities; ``channel`` uses a channel you built yourself (it is closed with the client).
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        call_credentials: grpc.CallCredentials | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        api_key: str = "",
        timeout: float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        options: Sequence[tuple[str, Any]] = (),
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive seconds (or None for no deadline)")
        channel = _rpc.open_channel(
            address, credentials=credentials, call_credentials=call_credentials, options=options, channel=channel
        )
        self._channel = channel
        # ``api_key``: an API key (rk_...) or a JWT, sent as "authorization: Bearer <it>" on every call
        self._metadata = tuple(metadata) + ((("authorization", f"Bearer {api_key}"),) if api_key else ())
        self._timeout = timeout
        self._retry = retry
        self._memory = memory_pb2_grpc.MemoryServiceStub(channel)
        self._graph = graph_pb2_grpc.GraphServiceStub(channel)
        self._admin = admin_pb2_grpc.AdminServiceStub(channel)

    async def __aenter__(self) -> AsyncRecalld:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel; calls still running are cancelled."""
        await self._channel.close()

    async def _call(self, method: Callable[..., Awaitable[R]], request: Any, timeout: float | None) -> R:
        """One RPC under the client's deadline and retry policy, its failure translated."""
        budget = self._timeout if timeout is None else timeout
        return await _rpc.call(method, request, budget=budget, retry=self._retry, metadata=self._metadata)

    # -- memories -------------------------------------------------------------------------------
    async def add(
        self,
        messages: conv.Messages,
        *,
        user_id: str = "",
        agent_id: str = "",
        run_id: str = "",
        metadata: Mapping[str, Any] | None = None,
        reference_time: datetime | None = None,
        infer: bool = True,
        mode: AddMode = "sync",
        importance: float | None = None,
        ttl: timedelta | float | None = None,
        timeout: float | None = None,
    ) -> AddResult:
        """Remember a conversation: a string (one user message), or messages as strings, dicts
        ``{"role", "content", "name"}`` or :class:`Message`. ``infer=False`` stores each message
        as it is instead of distilling facts.

        ``mode="async"`` answers as soon as the server has durably recorded the request, with
        ``operation_id`` and no events: follow it with :meth:`wait_operations`,
        :meth:`watch_operations` or :meth:`get_operation`. ``importance`` (0..1, default 0.5):
        how slowly the memories fade in ranking (1: never). ``ttl`` (a timedelta or seconds): the
        memories expire this long after they are made (default: never; memories of a run expire
        after the server's session lifetime)."""
        req = memory_pb2.AddRequest(
            scope=conv.scope(user_id, agent_id, run_id),
            messages=conv.messages(messages),
            metadata=conv.struct(metadata or {}),
            infer=infer,
            mode=conv.add_mode(mode),
        )
        if reference_time is not None:
            req.reference_time.CopyFrom(conv.timestamp(reference_time))
        if importance is not None:
            req.importance = conv.number(importance, "importance")
        if ttl is not None:
            req.ttl.CopyFrom(conv.duration(ttl))
        return conv.add_result(await self._call(self._memory.Add, req, timeout))

    async def import_items(
        self,
        items: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]],
        *,
        infer: bool | None = None,
        batch: int = 64,
        progress: Callable[[int], None] | None = None,
        timeout: float | None = None,
    ) -> ImportResult:
        """Bulk import over one client stream: ``items`` (read lazily, sync or async iterable)
        are mappings with ``source_id``, the scope (``user_id``, ``agent_id``, ``run_id``),
        ``messages`` (as for :meth:`add`) or one message as ``content`` (+ ``role``, ``name``),
        and optionally ``metadata``, ``reference_time``, ``infer``, ``importance``, ``ttl``.
        ``infer`` applies to items that do not set it. Items go ``batch`` to a request;
        ``progress(n)`` is called with the number of items sent so far. Re-sending the same
        items (after a failure or a crash) skips the ones already imported. ``timeout`` is the
        deadline of the whole stream (default: none); it is not retried."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        requests = _rpc.import_requests(items, infer=infer, batch=batch, progress=progress)
        try:
            response = await self._memory.Import(requests, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return conv.import_result(response)

    async def search(
        self,
        query: str,
        *,
        user_id: str = "",
        agent_id: str = "",
        run_id: str = "",
        limit: int = 10,
        threshold: float = 0.0,
        filters: conv.Filters = None,
        mode: Mode = "hybrid",
        start: datetime | None = None,
        end: datetime | None = None,
        as_of: datetime | None = None,
        include_retired: bool = False,
        levels: Sequence[str] = (),
        attributes: conv.Attributes = None,
        timeout: float | None = None,
    ) -> list[SearchHit]:
        """Hybrid (graph + vector) search in a scope; ``start``/``end`` bound the reference time.
        By default only facts that hold now; ``as_of`` searches what held at that moment,
        ``include_retired`` also returns retired facts (``hit.retired``).

        ``levels`` ("user", "session", "agent", "shared") searches those levels of ``user_id``'s
        memory as ``agent_id`` sees them and merges them (``hit.level``): "user" (every agent's),
        "session" (``run_id``'s), "agent" (the agent's own), "shared" (agents that granted it
        access); without levels the scope is a plain filter. ``attributes`` (a dict, or
        (name, value) pairs / :class:`Attribute`): only memories stating every one of them (an
        empty value: any value of the name)."""
        req = memory_pb2.SearchRequest(
            scope=conv.scope(user_id, agent_id, run_id),
            query=query,
            limit=limit,
            threshold=threshold,
            filters=conv.filters(filters),
            mode=conv.mode(mode),
            include_retired=include_retired,
            levels=conv.levels(levels),
            attributes=conv.attributes(attributes),
        )
        if as_of is not None:
            req.as_of.CopyFrom(conv.timestamp(as_of))
        if start is not None:
            req.time_range.start.CopyFrom(conv.timestamp(start))
        if end is not None:
            req.time_range.end.CopyFrom(conv.timestamp(end))
        return conv.hits(await self._call(self._memory.Search, req, timeout))

    async def get(
        self, memory_id: str, *, user_id: str = "", agent_id: str = "", run_id: str = "", timeout: float | None = None
    ) -> Memory:
        """One memory by id; :class:`NotFound` when the scope has no such memory."""
        req = memory_pb2.GetRequest(scope=conv.scope(user_id, agent_id, run_id), memory_id=memory_id)
        return conv.memory((await self._call(self._memory.Get, req, timeout)).memory)

    async def list(
        self,
        *,
        user_id: str = "",
        agent_id: str = "",
        run_id: str = "",
        page_size: int = 100,
        page_token: str = "",
        filters: conv.Filters = None,
        include_retired: bool = True,
        timeout: float | None = None,
    ) -> Page:
        """One page of a scope's memories, newest first; pass ``next_page_token`` for the next.
        Retired facts are listed too (with their ``valid_to``) unless ``include_retired=False``."""
        req = memory_pb2.ListRequest(
            scope=conv.scope(user_id, agent_id, run_id),
            page_size=page_size,
            page_token=page_token,
            filters=conv.filters(filters),
            current_only=not include_retired,
        )
        return conv.page(await self._call(self._memory.List, req, timeout))

    def iterate(
        self,
        *,
        user_id: str = "",
        agent_id: str = "",
        run_id: str = "",
        filters: conv.Filters = None,
        page_size: int = 100,
        timeout: float | None = None,
    ) -> AsyncIterator[Memory]:
        """Every memory of a scope, newest first, fetched page by page as the loop goes
        (``timeout`` applies to each page). Use as ``async for m in client.iterate(user_id=...)``;
        the scope and filters are checked at once."""
        conv.scope(user_id, agent_id, run_id)
        checked = conv.filter_list(filters)  # a one-shot iterable must serve every page

        async def pages() -> AsyncIterator[Memory]:
            token = ""
            while True:
                page = await self.list(
                    user_id=user_id,
                    agent_id=agent_id,
                    run_id=run_id,
                    page_size=page_size,
                    page_token=token,
                    filters=checked,
                    timeout=timeout,
                )
                for m in page.memories:
                    yield m
                if not page.next_page_token:
                    return
                token = page.next_page_token

        return pages()

    async def update(
        self,
        memory_id: str,
        text: str,
        *,
        user_id: str = "",
        agent_id: str = "",
        run_id: str = "",
        metadata: Mapping[str, Any] | None = None,
        expected_version: int = 0,
        expires_at: datetime | None = None,
        clear_expiry: bool = False,
        importance: float | None = None,
        timeout: float | None = None,
    ) -> Memory:
        """Replace a memory's text (and metadata when given). With ``expected_version`` the update
        applies only to that version; a concurrent change raises :class:`Conflict`. ``expires_at``
        (a per-memory TTL), ``clear_expiry`` and ``importance`` change the memory's lifecycle; with
        one of them ``text`` may be "" to keep the text."""
        req = memory_pb2.UpdateRequest(
            scope=conv.scope(user_id, agent_id, run_id),
            memory_id=memory_id,
            text=text,
            expected_version=expected_version,
            clear_expiry=clear_expiry,
        )
        if metadata is not None:
            req.metadata.CopyFrom(conv.struct(metadata))
        if expires_at is not None:
            req.expires_at.CopyFrom(conv.timestamp(expires_at))
        if importance is not None:
            req.importance = conv.number(importance, "importance")
        return conv.memory((await self._call(self._memory.Update, req, timeout)).memory)

    async def delete(
        self,
        memory_id: str,
        *,
        user_id: str = "",
        agent_id: str = "",
        run_id: str = "",
        expected_version: int = 0,
        timeout: float | None = None,
    ) -> None:
        """Delete one memory (its history is kept). With ``expected_version`` only that version is
        deleted; otherwise :class:`Conflict`."""
        req = memory_pb2.DeleteRequest(
            scope=conv.scope(user_id, agent_id, run_id), memory_id=memory_id, expected_version=expected_version
        )
        await self._call(self._memory.Delete, req, timeout)

    async def delete_all(
        self, *, user_id: str = "", agent_id: str = "", run_id: str = "", timeout: float | None = None
    ) -> int:
        """Delete every memory matching the scope; returns how many."""
        req = memory_pb2.DeleteAllRequest(scope=conv.scope(user_id, agent_id, run_id))
        return int((await self._call(self._memory.DeleteAll, req, timeout)).deleted_count)

    async def history(
        self, memory_id: str, *, user_id: str = "", agent_id: str = "", run_id: str = "", timeout: float | None = None
    ) -> builtins.list[HistoryEntry]:
        """The changes of one memory, oldest first."""
        req = memory_pb2.HistoryRequest(scope=conv.scope(user_id, agent_id, run_id), memory_id=memory_id)
        return conv.history(await self._call(self._memory.History, req, timeout))

    # -- asynchronous adds ----------------------------------------------------------------------
    async def get_operation(self, operation_id: str, *, timeout: float | None = None) -> Operation:
        """The state (and, once it succeeded, the results) of an asynchronous add."""
        req = memory_pb2.GetOperationRequest(operation_id=operation_id)
        return conv.operation((await self._call(self._memory.GetOperation, req, timeout)).operation)

    def watch_operations(
        self, operation_ids: Sequence[str], *, timeout: float | None = None
    ) -> AsyncIterator[Operation]:
        """Follow asynchronous adds (1..100 ids): each operation as it is now, then again at every
        status change; the iteration ends when all are done. ``timeout`` is the deadline of the
        whole stream; it is not retried. Use as ``async for op in client.watch_operations(ids)``;
        the ids are checked at once."""
        return self._watch(conv.ids(operation_ids, "operation_ids"), self._timeout if timeout is None else timeout)

    def _watch(self, operation_ids: builtins.list[str], budget: float | None) -> AsyncIterator[Operation]:
        return _rpc.watch(self._memory, operation_ids, budget, self._metadata)

    async def wait_operations(
        self, operation_ids: Sequence[str], *, timeout: float | None = None
    ) -> builtins.list[Operation]:
        """Wait until asynchronous adds are done (succeeded or failed); their final states, in the
        order given. Any number of ids (followed 100 at a time); ``timeout`` covers the whole wait
        (the client's timeout unless given: pass more for a long backlog). It is not retried."""
        ids = conv.ids(operation_ids, "operation_ids")
        unique = builtins.list(dict.fromkeys(ids))
        budget = self._timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = None if budget is None else loop.time() + budget
        final: dict[str, Operation] = {}
        for start in range(0, len(unique), WATCH_LIMIT):
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            async for op in self._watch(unique[start : start + WATCH_LIMIT], remaining):
                final[op.id] = op
        for i in unique:
            if i not in final or not final[i].done:
                raise Internal(f"the server ended the watch before operation {i} was done")
        return [final[i] for i in ids]

    # -- living memory --------------------------------------------------------------------------
    async def profile(
        self,
        *,
        user_id: str = "",
        agent_id: str = "",
        run_id: str = "",
        as_of: datetime | None = None,
        levels: Sequence[str] = (),
        timeout: float | None = None,
    ) -> builtins.list[ProfileAttribute]:
        """The scope's current structured attributes (allergies = penicillin, diet = vegetarian,
        ...), each with the memories that state it; ``as_of``: as they were at that moment.
        ``levels`` as in :meth:`search` (without them the scope is a plain filter)."""
        req = memory_pb2.ProfileRequest(scope=conv.scope(user_id, agent_id, run_id), levels=conv.levels(levels))
        if as_of is not None:
            req.as_of.CopyFrom(conv.timestamp(as_of))
        return conv.profile(await self._call(self._memory.Profile, req, timeout))

    async def mark_used(
        self,
        memory_ids: Sequence[str],
        *,
        user_id: str = "",
        agent_id: str = "",
        run_id: str = "",
        timeout: float | None = None,
    ) -> int:
        """Report that memories were used (e.g. search hits the app acted on; 1..1000 ids): their
        decay restarts. Returns how many of them are active memories in the scope."""
        req = memory_pb2.MarkUsedRequest(
            scope=conv.scope(user_id, agent_id, run_id), memory_ids=conv.ids(memory_ids, "memory_ids")
        )
        return int((await self._call(self._memory.MarkUsed, req, timeout)).marked_count)

    # -- sharing between agents -----------------------------------------------------------------
    async def grant_access(
        self, user_id: str, owner_agent: str, grantee_agent: str, *, timeout: float | None = None
    ) -> Grant:
        """Let ``grantee_agent`` read the memories ``owner_agent`` made about ``user_id`` (level
        "shared" in its searches and profiles). Returns the active grant (the existing one when
        it was granted already)."""
        req = memory_pb2.GrantAccessRequest(user_id=user_id, owner_agent=owner_agent, grantee_agent=grantee_agent)
        return conv.grant((await self._call(self._memory.GrantAccess, req, timeout)).grant)

    async def revoke_access(
        self, user_id: str, owner_agent: str, grantee_agent: str, *, timeout: float | None = None
    ) -> None:
        """End a grant (it stays listed, as revoked)."""
        req = memory_pb2.RevokeAccessRequest(user_id=user_id, owner_agent=owner_agent, grantee_agent=grantee_agent)
        await self._call(self._memory.RevokeAccess, req, timeout)

    async def list_grants(
        self,
        user_id: str,
        *,
        owner_agent: str = "",
        grantee_agent: str = "",
        include_revoked: bool = False,
        timeout: float | None = None,
    ) -> builtins.list[Grant]:
        """The grants about a user (only ``owner_agent``'s, or ``grantee_agent``'s, when given);
        active ones unless ``include_revoked``."""
        req = memory_pb2.ListGrantsRequest(
            user_id=user_id, owner_agent=owner_agent, grantee_agent=grantee_agent, include_revoked=include_revoked
        )
        return [conv.grant(g) for g in (await self._call(self._memory.ListGrants, req, timeout)).grants]

    # -- graph ----------------------------------------------------------------------------------
    async def subgraph(
        self,
        entity: str,
        *,
        user_id: str = "",
        agent_id: str = "",
        run_id: str = "",
        depth: int = 0,
        limit: int = 0,
        as_of: datetime | None = None,
        include_retired: bool = False,
        timeout: float | None = None,
    ) -> Subgraph:
        """An entity's neighbourhood (``depth`` 1..4, default 2; at most ``limit`` relations) over
        the relations that hold now (or at ``as_of``, or all with ``include_retired``)."""
        req = graph_pb2.SubgraphRequest(
            scope=conv.scope(user_id, agent_id, run_id),
            entity=entity,
            depth=depth,
            limit=limit,
            validity=conv.validity(as_of, include_retired),
        )
        return conv.subgraph(await self._call(self._graph.Subgraph, req, timeout))

    async def paths(
        self,
        source: str,
        target: str,
        *,
        user_id: str = "",
        agent_id: str = "",
        run_id: str = "",
        max_depth: int = 0,
        limit: int = 0,
        as_of: datetime | None = None,
        include_retired: bool = False,
        timeout: float | None = None,
    ) -> builtins.list[GraphPath]:
        """Paths between two entities, shortest first, over the relations that hold now (or at
        ``as_of``, or all with ``include_retired``)."""
        req = graph_pb2.PathsRequest(
            scope=conv.scope(user_id, agent_id, run_id),
            source=source,
            target=target,
            max_depth=max_depth,
            limit=limit,
            validity=conv.validity(as_of, include_retired),
        )
        return [conv.path(p) for p in (await self._call(self._graph.Paths, req, timeout)).paths]

    # -- operators ------------------------------------------------------------------------------
    async def verify(self, *, timeout: float | None = None) -> VerifyReport:
        """Compare the graph store (system of record) with the vector index."""
        return conv.verify_report(await self._call(self._admin.Verify, admin_pb2.VerifyRequest(), timeout))

    async def reindex(self, *, full: bool = False, timeout: float | None = None) -> tuple[int, int]:
        """Repair drift between graph and vector index; returns (upserted, deleted)."""
        resp = await self._call(self._admin.Reindex, admin_pb2.ReindexRequest(full=full), timeout)
        return int(resp.upserted), int(resp.deleted)

    async def create_api_key(
        self,
        name: str,
        *,
        role: str = "read",
        tenant: str = "",
        user_ids: Sequence[str] = (),
        agent_ids: Sequence[str] = (),
        timeout: float | None = None,
    ) -> tuple[ApiKey, str]:
        """A new API key (admin role; ``tenant`` other than the caller's needs the bootstrap key):
        the key and its token, which the server does not keep — store it now. ``user_ids`` /
        ``agent_ids`` limit it to those users / agents."""
        req = admin_pb2.CreateApiKeyRequest(
            tenant=tenant, name=name, role=conv.role(role), user_ids=list(user_ids), agent_ids=list(agent_ids)
        )
        resp = await self._call(self._admin.CreateApiKey, req, timeout)
        return conv.api_key(resp.key), resp.token

    async def list_api_keys(
        self, *, tenant: str = "", include_revoked: bool = False, timeout: float | None = None
    ) -> builtins.list[ApiKey]:
        """The tenant's API keys, oldest first (never their tokens)."""
        req = admin_pb2.ListApiKeysRequest(tenant=tenant, include_revoked=include_revoked)
        return [conv.api_key(k) for k in (await self._call(self._admin.ListApiKeys, req, timeout)).keys]

    async def revoke_api_key(self, key_id: str, *, timeout: float | None = None) -> ApiKey:
        """Revoke an API key: refused from then on (kept, with revoked_at, for the audit trail)."""
        resp = await self._call(self._admin.RevokeApiKey, admin_pb2.RevokeApiKeyRequest(key_id=key_id), timeout)
        return conv.api_key(resp.key)

    async def erase(
        self, *, user_id: str = "", agent_id: str = "", run_id: str = "", timeout: float | None = None
    ) -> EraseReceipt:
        """Forget a user (with every agent and run), an agent (across users) or a run entirely:
        memories, relations, entities, episodes, history, vectors, grants, pending asynchronous
        adds. Admin role. Returns the receipt (counts only). Not retried on its own: the server
        completes an accepted erasure even across a crash."""
        req = admin_pb2.EraseRequest(scope=conv.scope(user_id, agent_id, run_id))
        return conv.erase_receipt((await self._call(self._admin.Erase, req, timeout)).receipt)
