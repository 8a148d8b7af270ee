"""The audit log: one JSON line per call on the ``recalld.audit`` logger (``RECALLD_AUDIT_LOG``):
tenant, principal, method, scope, memory ids, status, request id. Never content."""

from __future__ import annotations

import logging
from typing import Any

import grpc

from recalld.kernel.domain import Principal, Scope

audit_log = logging.getLogger("recalld.audit")
log = logging.getLogger(__name__)


def memory_ids(message: Any, limit: int = 100) -> list[str]:
    """Memory ids named by a request or a response (never content)."""
    out: list[str] = []
    fields = message.DESCRIPTOR.fields_by_name
    if "memory_id" in fields and message.memory_id:
        out.append(message.memory_id)
    if "memory_ids" in fields:
        out += list(message.memory_ids)

    def messages(name: str) -> bool:
        f = fields.get(name)
        return f is not None and f.message_type is not None

    if messages("memory") and message.HasField("memory"):
        out.append(message.memory.id)
    if messages("memories"):
        out += [m.id for m in message.memories]
    for name in ("hits", "results"):  # Search hits, Add results (each with a memory)
        f = fields.get(name)
        if f is not None and f.message_type is not None and "memory" in f.message_type.fields_by_name:
            out += [x.memory.id for x in getattr(message, name)]
    return list(dict.fromkeys(out))[:limit]


class AuditLog:
    """Writes the audit line of a call (when enabled); a failure to write it is logged, never
    raised: the audit line must not fail the call it describes."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled

    def record(
        self,
        principal: Principal,
        method: str,
        code: grpc.StatusCode,
        *,
        scope: Scope | None,
        request: Any = None,
        response: Any = None,
    ) -> None:
        """The line of one call: ``scope`` as the guard parsed it from ``request`` (None: none);
        the memory ids of ``request`` and ``response`` (each None when there is none to read)."""
        if not self.enabled:
            return
        try:
            self._write(principal, method, code, scope, request, response)
        except Exception:
            log.exception("audit record of %s failed", method)

    @staticmethod
    def _write(
        principal: Principal, method: str, code: grpc.StatusCode, scope: Scope | None, request: Any, response: Any
    ) -> None:
        ids = memory_ids(request) if request is not None else []
        if response is not None:
            ids = list(dict.fromkeys(ids + memory_ids(response)))
        audit_log.info(
            "rpc",
            extra={
                "tenant": principal.tenant,
                "principal": principal.name,
                "key_id": principal.key_id,
                "auth": principal.method,
                "rpc": method,
                "scope": {k: v for k, v in scope.items()} if scope is not None else {},
                "memory_ids": ids,
                "status": code.name,
            },
        )
