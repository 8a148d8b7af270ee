"""Domain errors. The gRPC edge maps each to one status code (recalld.server.api.errors)."""


class RecalldError(Exception):
    """Base of every error recalld reports to a caller."""


class InvalidArgument(RecalldError):
    """The request is malformed: missing scope, empty messages, bad filter."""


class NotFound(RecalldError):
    """No such memory or entity in the request's scope."""


class Conflict(RecalldError):
    """A concurrent write changed the memory first (compare-and-set lost); re-read and retry."""


class ResourceExhausted(RecalldError):
    """The request exceeds a configured size limit."""


class Unavailable(RecalldError):
    """A backing store cannot be reached; the caller may retry."""


class Unauthenticated(RecalldError):
    """No credential, or one that is malformed, unknown, revoked, expired or wrongly signed."""


class PermissionDenied(RecalldError):
    """A valid credential asking for something outside its grant (role, users, agents, tenant)."""


def memory_gone(memory_id: str) -> NotFound:
    """A write found the memory deleted, or never there."""
    return NotFound(f"memory {memory_id} not found (deleted, or never existed)")


def version_conflict(memory_id: str, current: object, expected: int) -> Conflict:
    """A compare-and-set lost: the memory is at ``current``, the write was based on ``expected``."""
    return Conflict(
        f"memory {memory_id} changed concurrently: it is at version {current}, "
        f"this write was based on version {expected}; read it again and retry"
    )
