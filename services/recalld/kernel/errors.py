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
