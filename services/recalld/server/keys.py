"""API key management: create (the token is returned once; only its hash is stored), list and
revoke. A tenant's unrestricted admin manages that tenant's keys; the bootstrap key manages every
tenant's (it creates the first admin key of a new tenant)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from recalld.kernel.domain import TENANT_ID, ApiKey, Principal, Role
from recalld.kernel.errors import InvalidArgument, NotFound, PermissionDenied
from recalld.kernel.ports import CredentialStore
from recalld.server.auth import new_api_key

_KEY_ID = re.compile(r"[0-9a-f]{12}")
_MAX_NAME = 100
_MAX_IDS = 1000
_MAX_ID_CHARS = 256


class ApiKeys:
    def __init__(self, control: CredentialStore, *, on_revoke: Callable[[str], None] = lambda _: None) -> None:
        self._control = control
        self._on_revoke = on_revoke

    async def create(
        self,
        principal: Principal,
        *,
        tenant: str,
        name: str,
        role: Role,
        users: Sequence[str] = (),
        agents: Sequence[str] = (),
    ) -> tuple[ApiKey, str]:
        tenant = tenant or principal.tenant
        if not TENANT_ID.fullmatch(tenant):
            raise InvalidArgument(f"tenant id {tenant!r} is invalid: 1-32 of a-z, 0-9 and inner dashes")
        _manage(principal, tenant)
        name = name.strip()
        if not name or len(name) > _MAX_NAME or not name.isprintable():
            raise InvalidArgument(f"name is required: up to {_MAX_NAME} printable characters (who holds the key)")
        key_id, token, secret_hash = new_api_key()
        key = ApiKey(
            id=key_id,
            tenant=tenant,
            name=name,
            role=role,
            secret_hash=secret_hash,
            created_at=datetime.now(UTC),
            users=_ids(users, "user_ids"),
            agents=_ids(agents, "agent_ids"),
            created_by=_label(principal),
        )
        await self._control.put_api_key(key)
        await self._control.register_tenant(tenant, key.created_at)
        return key, token

    async def list(self, principal: Principal, tenant: str, *, include_revoked: bool = False) -> list[ApiKey]:
        tenant = tenant or principal.tenant
        _manage(principal, tenant)
        return await self._control.list_api_keys(tenant, include_revoked=include_revoked)

    async def revoke(self, principal: Principal, key_id: str) -> ApiKey:
        if not _KEY_ID.fullmatch(key_id):
            raise InvalidArgument("key_id is 12 lowercase hex characters (the id shown by ListApiKeys)")
        key = await self._control.get_api_key(key_id)
        if key is None or (key.tenant != principal.tenant and not principal.superuser):
            raise NotFound(f"API key {key_id} not found")
        _manage(principal, key.tenant)
        revoked = await self._control.revoke_api_key(key_id, datetime.now(UTC), _label(principal))
        if revoked is None:
            raise NotFound(f"API key {key_id} not found")
        self._on_revoke(key_id)
        return revoked


def _manage(principal: Principal, tenant: str) -> None:
    if principal.superuser:
        return
    if principal.role < Role.ADMIN:
        raise PermissionDenied("managing API keys needs the admin role")
    if principal.users or principal.agents:
        raise PermissionDenied("a credential limited to some users or agents cannot manage API keys")
    if tenant != principal.tenant:
        raise PermissionDenied(f"this credential manages the keys of tenant {principal.tenant!r} only")


def _ids(values: Sequence[str], field: str) -> frozenset[str]:
    if len(values) > _MAX_IDS:
        raise InvalidArgument(f"{field}: at most {_MAX_IDS}")
    for v in values:
        if not v or len(v) > _MAX_ID_CHARS or not v.isprintable():
            raise InvalidArgument(f"{field}: each is 1-{_MAX_ID_CHARS} printable characters")
    return frozenset(values)


def _label(principal: Principal) -> str:
    return f"{principal.method}:{principal.key_id or principal.name}"
