"""CredentialStore (the control plane): API keys and the tenants they belong to.

    (:ApiKey  {id, tenant, tenant_key, name, role, secret_hash, users, agents, created_at,
               created_by, revoked_at, revoked_by})         unique id; tenant_key indexed
    (:Tenant  {key, name, created_at})                     unique key

An API key's ``users`` and ``agents`` are JSON lists (sorted), ``role`` the Role's int."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from recalld.graph.cypher.runner import CypherStoreBase, Query
from recalld.graph.cypher.values import lookup_key, opt_time
from recalld.kernel.domain import ApiKey, Role
from recalld.kernel.times import from_micros, to_micros

API_KEY_PROPS = (
    "id",
    "tenant",
    "name",
    "role",
    "secret_hash",
    "users",
    "agents",
    "created_at",
    "created_by",
    "revoked_at",
    "revoked_by",
)
_API_KEY_COLUMNS = ", ".join(f"k.{p} AS {p}" for p in API_KEY_PROPS)


PUT_API_KEY = "CREATE (k:ApiKey) SET k = $key"

GET_API_KEY = f"MATCH (k:ApiKey {{id: $id}}) RETURN {_API_KEY_COLUMNS}"

LIST_TENANT_API_KEYS = f"""
MATCH (k:ApiKey {{tenant_key: $tenant_key}})
WHERE k.tenant = $tenant AND ($include_revoked OR k.revoked_at IS NULL)
RETURN {_API_KEY_COLUMNS} ORDER BY created_at, id"""

LIST_ALL_API_KEYS = f"""
MATCH (k:ApiKey) WHERE $include_revoked OR k.revoked_at IS NULL
RETURN {_API_KEY_COLUMNS} ORDER BY created_at, id"""

# Revoked once: a second revocation keeps the first time and revoker. Returns the key as stored.
REVOKE_API_KEY = f"""
MATCH (k:ApiKey {{id: $id}})
SET k._lock = true SET k._lock = null
SET k.revoked_by = CASE WHEN k.revoked_at IS NULL THEN $by ELSE k.revoked_by END,
    k.revoked_at = coalesce(k.revoked_at, $at)
RETURN {_API_KEY_COLUMNS}"""

REGISTER_TENANT = "MERGE (t:Tenant {key: $key}) ON CREATE SET t.name = $name, t.created_at = $at"

LIST_TENANTS = "MATCH (t:Tenant) RETURN t.name AS name ORDER BY name"


def put_api_key_query(key: ApiKey) -> Query:
    return Query("put_api_key", PUT_API_KEY, {"key": api_key_props(key)})


def get_api_key_query(key_id: str) -> Query:
    return Query("get_api_key", GET_API_KEY, {"id": key_id})


def list_api_keys_query(tenant: str, include_revoked: bool = False) -> Query:
    """Oldest first; ``tenant`` "" lists every tenant's keys."""
    if not tenant:
        return Query("list_all_api_keys", LIST_ALL_API_KEYS, {"include_revoked": include_revoked})
    params = {"tenant_key": lookup_key(tenant), "tenant": tenant, "include_revoked": include_revoked}
    return Query("list_api_keys", LIST_TENANT_API_KEYS, params)


def revoke_api_key_query(key_id: str, at: datetime, by: str) -> Query:
    return Query("revoke_api_key", REVOKE_API_KEY, {"id": key_id, "at": to_micros(at), "by": by})


def register_tenant_query(tenant: str, at: datetime) -> Query:
    params = {"key": lookup_key("tenant", tenant), "name": tenant, "at": to_micros(at)}
    return Query("register_tenant", REGISTER_TENANT, params)


def list_tenants_query() -> Query:
    return Query("list_tenants", LIST_TENANTS)


def api_key_props(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "tenant": k.tenant,
        "tenant_key": lookup_key(k.tenant),
        "name": k.name,
        "role": int(k.role),
        "secret_hash": k.secret_hash,
        "users": json.dumps(sorted(k.users)),
        "agents": json.dumps(sorted(k.agents)),
        "created_at": to_micros(k.created_at),
        "created_by": k.created_by,
        "revoked_at": None if k.revoked_at is None else to_micros(k.revoked_at),
        "revoked_by": k.revoked_by,
    }


def row_to_api_key(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant=row["tenant"],
        name=row["name"],
        role=Role(int(row["role"])),
        secret_hash=row["secret_hash"],
        users=frozenset(json.loads(row["users"] or "[]")),
        agents=frozenset(json.loads(row["agents"] or "[]")),
        created_at=from_micros(row["created_at"]),
        created_by=row["created_by"] or "",
        revoked_at=opt_time(row["revoked_at"]),
        revoked_by=row["revoked_by"] or "",
    )


class CypherCredentialStore(CypherStoreBase):
    """CredentialStore over the runner."""

    async def put_api_key(self, key: ApiKey) -> None:
        await self._runner.write(put_api_key_query(key))

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        rows = await self._runner.read(get_api_key_query(key_id))
        return row_to_api_key(rows[0]) if rows else None

    async def list_api_keys(self, tenant: str, *, include_revoked: bool = False) -> list[ApiKey]:
        return [row_to_api_key(r) for r in await self._runner.read(list_api_keys_query(tenant, include_revoked))]

    async def revoke_api_key(self, key_id: str, at: datetime, by: str) -> ApiKey | None:
        rows = await self._runner.write(revoke_api_key_query(key_id, at, by))
        return row_to_api_key(rows[0]) if rows else None

    async def register_tenant(self, tenant: str, at: datetime) -> None:
        await self._runner.write(register_tenant_query(tenant, at))

    async def list_tenants(self) -> list[str]:
        return [r["name"] for r in await self._runner.read(list_tenants_query())]
