"""Authorization: what a principal may do.

- Role: each RPC declares the least role it needs beside it in the proto,
  ``option (recalld.v1.required_role) = ROLE_WRITE;`` (the option is declared in admin.proto,
  next to ``Role``). :data:`ROLES` is read from the descriptors at import; an RPC missing from it
  needs admin (a unit test fails when a recalld RPC declares no role). Health needs no
  credential at all (:data:`OPEN`).
- Tenant-wide RPCs (``option (recalld.v1.tenant_wide) = true;``: Verify, Reindex) act on the whole
  tenant: a credential limited to some users or agents may not call them.
- Scope: a request's scope must stay inside the credential's users and agents.

Refused: PERMISSION_DENIED. The tenant is the credential's: the servicers only ever open that
tenant's stores.

The scope of a request is parsed once, by :func:`request_scope`; the guard holds it for the time
of the call (:func:`hold_scope`) and the converters take it from :func:`parsed_scope` instead of
parsing the request's scope message again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from typing import Any

from google.protobuf.descriptor import FileDescriptor

from recalld.kernel.domain import Principal, Role, Scope
from recalld.kernel.errors import PermissionDenied
from recalld.v1 import admin_pb2, graph_pb2, memory_pb2

OPEN = ("/grpc.health.v1.Health/",)  # no credential needed
# Services of other packages served beside recalld's (their protos cannot declare a role).
_OTHER_ROLES: Mapping[str, Role] = {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": Role.READ}


def method_path(service: str, method: str) -> str:
    """The gRPC path of an RPC, as a call names it: ``/recalld.v1.MemoryService/Search``."""
    return f"/{service}/{method}"


def declared_access(files: Iterable[FileDescriptor]) -> tuple[dict[str, Role], frozenset[str]]:
    """The role each RPC of ``files`` declares (``required_role``; an RPC that declares none is left
    out, so it needs admin) and the RPCs that declare themselves ``tenant_wide``."""
    roles: dict[str, Role] = {}
    wide: set[str] = set()
    for file in files:
        for service in file.services_by_name.values():
            for method in service.methods:
                path = method_path(service.full_name, method.name)
                options = method.GetOptions()
                role = options.Extensions[admin_pb2.required_role]
                if role != admin_pb2.ROLE_UNSPECIFIED:
                    roles[path] = Role(role)
                if options.Extensions[admin_pb2.tenant_wide]:
                    wide.add(path)
    return roles, frozenset(wide)


SERVICE_FILES = (memory_pb2.DESCRIPTOR, graph_pb2.DESCRIPTOR, admin_pb2.DESCRIPTOR)
_DECLARED, TENANT_WIDE = declared_access(SERVICE_FILES)
ROLES: Mapping[str, Role] = {**_DECLARED, **_OTHER_ROLES}


def required_role(method: str) -> Role:
    return ROLES.get(method, Role.ADMIN)


def request_scope(request: Any) -> Scope | None:
    """The scope a request acts on, for authorization and the audit log."""
    fields = request.DESCRIPTOR.fields_by_name
    if "scope" in fields:
        s = request.scope
        return Scope(s.user_id, s.agent_id, s.run_id)
    if "owner_agent" in fields and "user_id" in fields:  # grants
        return Scope(request.user_id, request.owner_agent)
    if "user_id" in fields:
        return Scope(request.user_id)
    return None


def authorize(principal: Principal, method: str, scope: Scope | None) -> None:
    """Raise PermissionDenied unless ``principal`` may call ``method`` on ``scope`` (the
    :func:`request_scope` of the request; None: the request names no scope)."""
    needed = required_role(method)
    if principal.role < needed:
        raise PermissionDenied(
            f"this credential has the {principal.role.name.lower()} role; {method.rsplit('/', 1)[-1]} needs "
            f"{needed.name.lower()}"
        )
    if method in TENANT_WIDE and (principal.users or principal.agents):
        raise PermissionDenied(
            f"{method.rsplit('/', 1)[-1]} acts on the whole tenant: a credential limited to some users or agents "
            "may not run it"
        )
    if scope is not None and not principal.allows(scope):
        if principal.users and scope.user_id not in principal.users:
            raise PermissionDenied(f"this credential may not access user {scope.user_id!r}")
        raise PermissionDenied(f"this credential may not access agent {scope.agent_id!r}")


# The request's own scope message and the Scope parsed from it, for the call being served.
_held_scope: ContextVar[tuple[Any, Scope] | None] = ContextVar("request_scope", default=None)


def hold_scope(request: Any, scope: Scope | None) -> Token[tuple[Any, Scope] | None] | None:
    """Hand ``scope``, parsed from ``request``'s ``scope`` field, to :func:`parsed_scope` for the
    rest of the call (None when the request has no scope message: nothing is held)."""
    if request is None or scope is None or "scope" not in request.DESCRIPTOR.fields_by_name:
        return None
    return _held_scope.set((request.scope, scope))


def release_scope(token: Token[tuple[Any, Scope] | None] | None) -> None:
    if token is not None:
        _held_scope.reset(token)


def parsed_scope(message: Any) -> Scope | None:
    """The Scope the guard parsed from ``message`` when it is the scope message of the request
    being served (the very object: the held reference keeps it alive, so its identity cannot be
    reused), else None."""
    held = _held_scope.get()
    return held[1] if held is not None and held[0] is message else None
