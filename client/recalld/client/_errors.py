"""gRPC status codes as a short hierarchy of exceptions, each carrying the status and message."""

from __future__ import annotations

import grpc


class RecalldError(Exception):
    """A call failed. ``code`` is the gRPC status, ``message`` the server's explanation."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class InvalidArgument(RecalldError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(RecalldError):
    code = grpc.StatusCode.NOT_FOUND


class Conflict(RecalldError):
    """ABORTED: a concurrent write changed the memory first; read it again and retry."""

    code = grpc.StatusCode.ABORTED


class PermissionDenied(RecalldError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(RecalldError):
    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(RecalldError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(RecalldError):
    """The server (or a store behind it) cannot be reached; retried by the client's policy."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(RecalldError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Internal(RecalldError):
    """Any other status: a bug on the server or in the transport."""

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
    """The exception for a failed call (``grpc.aio.AioRpcError`` or a sync ``grpc.RpcError``)."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else None) or str(code.name).lower()
    cls = _BY_CODE.get(code, Internal)
    return cls(details, code=code)


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
