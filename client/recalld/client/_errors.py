"""gRPC status codes as a short hierarchy of exceptions, each carrying the status and message.

=====================  ===================================================
status                 exception
=====================  ===================================================
INVALID_ARGUMENT       :class:`InvalidArgument`
NOT_FOUND              :class:`NotFound`
ABORTED                :class:`Conflict`
PERMISSION_DENIED      :class:`PermissionDenied`
UNAUTHENTICATED        :class:`Unauthenticated`
RESOURCE_EXHAUSTED     :class:`ResourceExhausted`
UNAVAILABLE            :class:`Unavailable`
DEADLINE_EXCEEDED      :class:`DeadlineExceeded`
anything else          :class:`Internal` (``code`` keeps the real status)
=====================  ===================================================
"""

from __future__ import annotations

from typing import Any

import grpc


class RecalldError(Exception):
    """A call failed. ``code`` is the gRPC status (``grpc.StatusCode``), ``message`` the server's
    explanation (also as ``details``, gRPC's name for it)."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def details(self) -> str:
        return self.message

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:  # keep the code across pickling (e.g. multiprocessing)
        return (_rebuild, (type(self), self.message, self.code))


def _rebuild(cls: type[RecalldError], message: str, code: grpc.StatusCode) -> RecalldError:
    return cls(message, code=code)


class InvalidArgument(RecalldError):
    """INVALID_ARGUMENT: the request is malformed (scope, limits, filters, ids)."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(RecalldError):
    """NOT_FOUND: no such memory or entity in the request's scope."""

    code = grpc.StatusCode.NOT_FOUND


class Conflict(RecalldError):
    """ABORTED: a concurrent write changed the memory first (or ``expected_version`` is stale);
    read it again and retry."""

    code = grpc.StatusCode.ABORTED


class PermissionDenied(RecalldError):
    """PERMISSION_DENIED: the caller may not do this."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(RecalldError):
    """UNAUTHENTICATED: missing or invalid credentials."""

    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(RecalldError):
    """RESOURCE_EXHAUSTED: the request exceeds the server's size limits (or a quota)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(RecalldError):
    """UNAVAILABLE: the server (or a store behind it) cannot be reached; raised once the client's
    :class:`RetryPolicy` gave up."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(RecalldError):
    """DEADLINE_EXCEEDED: the call's ``timeout`` passed."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Internal(RecalldError):
    """Any other status (INTERNAL, UNKNOWN, DATA_LOSS, ...): a bug on the server or in the
    transport. ``code`` is the status actually received."""

    code = grpc.StatusCode.INTERNAL


_BY_CODE: dict[grpc.StatusCode, type[RecalldError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        Conflict,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        Unavailable,
        DeadlineExceeded,
    )
}


def from_rpc_error(exc: grpc.RpcError) -> RecalldError:
    """The exception for a failed call (``grpc.aio.AioRpcError`` or a blocking ``grpc.RpcError``;
    anything with ``code()`` and ``details()``)."""
    code_of = getattr(exc, "code", None)
    details_of = getattr(exc, "details", None)
    code = code_of() if callable(code_of) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    details = details_of() if callable(details_of) else None
    return _BY_CODE.get(code, Internal)(details or code.name.lower().replace("_", " "), code=code)


__all__ = [
    "Conflict",
    "DeadlineExceeded",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "RecalldError",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "from_rpc_error",
]
