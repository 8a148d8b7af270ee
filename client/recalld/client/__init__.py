"""recalld-client: the typed Python client of the recalld memory service.

Blocking (:class:`Recalld`) and asyncio (:class:`AsyncRecalld`) with the same verbs: add, search,
get, list / iterate, update, delete, delete_all, history, subgraph, paths, verify, reindex.
Values in and out are plain Python (frozen dataclasses, datetimes, dicts); failures raise
:class:`RecalldError` subclasses. Depends on grpcio and protobuf only; the generated gRPC code
ships alongside as ``recalld.v1``.
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
    NO_RETRY,
    AddResult,
    Edge,
    Entity,
    Filter,
    GraphPath,
    HistoryEntry,
    Memory,
    MemoryEvent,
    Message,
    Page,
    RetryPolicy,
    SearchHit,
    Subgraph,
    Triple,
    VerifyReport,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_TIMEOUT",
    "NO_RETRY",
    "AddResult",
    "AsyncRecalld",
    "Conflict",
    "DeadlineExceeded",
    "Edge",
    "Entity",
    "Filter",
    "GraphPath",
    "HistoryEntry",
    "Internal",
    "InvalidArgument",
    "Memory",
    "MemoryEvent",
    "Message",
    "NotFound",
    "Page",
    "PermissionDenied",
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
