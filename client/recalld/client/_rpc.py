"""How the asyncio client talks gRPC (recalld.client._async builds the requests and reads the
answers): the channel, each unary call under the client's deadline and retry policy, and the two
streams (Import's requests, sent in batches as the items are read; WatchOperations' answers).
Failures raise :class:`recalld.client.RecalldError` subclasses.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import grpc

from recalld.client import _convert as conv
from recalld.client._errors import from_rpc_error
from recalld.client._types import Operation, RetryPolicy
from recalld.v1 import memory_pb2, memory_pb2_grpc

R = TypeVar("R")
T = TypeVar("T")


def open_channel(
    address: str,
    *,
    credentials: grpc.ChannelCredentials | None,
    call_credentials: grpc.CallCredentials | None,
    options: Sequence[tuple[str, Any]],
    channel: grpc.aio.Channel | None,
) -> grpc.aio.Channel:
    """``channel`` when given (then without credentials or options), else a channel to
    ``address``: insecure without ``credentials``, TLS (with ``call_credentials``) with them."""
    if channel is not None and (credentials is not None or call_credentials is not None or options):
        raise ValueError("pass either channel or credentials/call_credentials/options, not both")
    if channel is None:
        if credentials is None and call_credentials is not None:
            raise ValueError("call_credentials need a secure channel: pass credentials as well")
        if credentials is None:
            channel = grpc.aio.insecure_channel(address, options=list(options))
        else:
            creds = credentials
            if call_credentials is not None:
                creds = grpc.composite_channel_credentials(credentials, call_credentials)
            channel = grpc.aio.secure_channel(address, creds, options=list(options))
    return channel


async def call(
    method: Callable[..., Awaitable[R]],
    request: Any,
    *,
    budget: float | None,
    retry: RetryPolicy,
    metadata: tuple[tuple[str, str], ...],
) -> R:
    """One RPC within ``budget`` seconds (None: no deadline), retried with exponential backoff and
    jitter when, and only when, it fails with UNAVAILABLE; its failure translated."""
    loop = asyncio.get_running_loop()
    deadline = None if budget is None else loop.time() + budget
    attempt = 0
    while True:
        attempt += 1
        remaining = None if deadline is None else max(0.0, deadline - loop.time())
        try:
            return await method(request, timeout=remaining, metadata=metadata)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            if error.code is not grpc.StatusCode.UNAVAILABLE or attempt >= retry.attempts:
                raise error from None
            pause = random.uniform(0.0, retry.backoff(attempt))
            if deadline is not None and loop.time() + pause >= deadline:
                raise error from None  # no time left for another attempt
            await asyncio.sleep(pause)


async def import_requests(
    items: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]],
    *,
    infer: bool | None,
    batch: int,
    progress: Callable[[int], None] | None,
) -> AsyncIterator[memory_pb2.ImportRequest]:
    """Import's request stream: the items (read lazily, sync or async iterable) ``batch`` to a
    request; ``progress(n)`` with the number of items sent so far."""
    chunk: list[memory_pb2.ImportItem] = []
    sent = 0
    source: AsyncIterator[Mapping[str, Any]] = aiter(items) if isinstance(items, AsyncIterable) else _aiter_sync(items)
    async for item in source:
        chunk.append(conv.import_item(item, sent + len(chunk), infer=infer))
        if len(chunk) >= batch:
            yield memory_pb2.ImportRequest(items=chunk)
            sent += len(chunk)
            chunk = []
            if progress is not None:
                progress(sent)
    if chunk:
        yield memory_pb2.ImportRequest(items=chunk)
        sent += len(chunk)
        if progress is not None:
            progress(sent)


async def watch(
    stub: memory_pb2_grpc.MemoryServiceStub,
    operation_ids: list[str],
    budget: float | None,
    metadata: tuple[tuple[str, str], ...],
) -> AsyncIterator[Operation]:
    """WatchOperations' answers as operations; leaving early ends the stream."""
    req = memory_pb2.WatchOperationsRequest(operation_ids=operation_ids)
    stream = stub.WatchOperations(req, timeout=budget, metadata=metadata)
    responses = stream.__aiter__()
    try:
        while True:
            try:
                resp = await anext(responses)
            except StopAsyncIteration:
                return
            except grpc.RpcError as exc:
                raise from_rpc_error(exc) from None
            yield conv.operation(resp.operation)
    finally:
        stream.cancel()  # left early: end the stream (a no-op once it finished)


async def _aiter_sync(items: Iterable[T]) -> AsyncIterator[T]:
    for item in items:
        yield item
