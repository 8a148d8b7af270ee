"""recalld-client: the typed Python client of the recalld memory service.

Blocking (:class:`Recalld`) and asyncio (:class:`AsyncRecalld`) with the same verbs: add, search,
get, list / iterate, update, delete, delete_all, history; get_operation, watch_operations,
wait_operations (asynchronous adds); profile, mark_used; grant_access, revoke_access, list_grants
(sharing between agents); subgraph, paths; verify, reindex; create_api_key, list_api_keys,
revoke_api_key, erase. ``api_key=`` sends an API key or JWT with every call. Values in and out are plain Python
(frozen dataclasses, aware datetimes, dicts; enumerations as lowercase strings); failures raise
:class:`RecalldError` subclasses. Every call has a deadline (``timeout``, 30 s by default) and only
UNAVAILABLE is retried (:class:`RetryPolicy`). Depends on grpcio and protobuf only; the generated
gRPC code ships alongside as ``recalld.v1``.

    from recalld.client import Recalld

    with Recalld("127.0.0.1:50051") as memory:
        memory.add("My cat Luna caught a cold last week.", user_id="alice")
        for hit in memory.search("how is my pet's health?", user_id="alice"):
            print(f"{hit.score:.3f} {hit.memory.text}")
"""

from recalld.client._async import DEFAULT_ADDRESS, DEFAULT_TIMEOUT, AsyncRecalld
from recalld.client._errors import (
    Conflict,
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RecalldError,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from recalld.client._sync import Recalld
from recalld.client._types import (
    DEFAULT_RETRY,
    NO_RETRY,
    AddMode,
    AddResult,
    ApiKey,
    Attribute,
    Edge,
    Entity,
    EntityNode,
    EraseReceipt,
    Filter,
    FilterOp,
    Grant,
    GraphPath,
    HistoryEntry,
    ImportResult,
    Level,
    Memory,
    MemoryEvent,
    Message,
    Mode,
    Operation,
    OperationResult,
    Page,
    ProfileAttribute,
    RetryPolicy,
    SearchHit,
    Subgraph,
    Triple,
    VerifyReport,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "NO_RETRY",
    "AddMode",
    "AddResult",
    "ApiKey",
    "AsyncRecalld",
    "Attribute",
    "Conflict",
    "DeadlineExceeded",
    "Edge",
    "Entity",
    "EntityNode",
    "EraseReceipt",
    "Filter",
    "FilterOp",
    "Grant",
    "GraphPath",
    "HistoryEntry",
    "ImportResult",
    "Internal",
    "InvalidArgument",
    "Level",
    "Memory",
    "MemoryEvent",
    "Message",
    "Mode",
    "NotFound",
    "Operation",
    "OperationResult",
    "Page",
    "PermissionDenied",
    "ProfileAttribute",
    "Recalld",
    "RecalldError",
    "ResourceExhausted",
    "RetryPolicy",
    "SearchHit",
    "Subgraph",
    "Triple",
    "Unauthenticated",
    "Unavailable",
    "VerifyReport",
]
