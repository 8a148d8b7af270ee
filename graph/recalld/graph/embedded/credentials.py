"""CredentialStore of the embedded store: API keys (hashed) and the tenants that exist, kept in
the default tenant's file."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from recalld.graph.embedded.connection import EmbeddedStoreBase
from recalld.graph.embedded.sql import opt_dt, opt_ts
from recalld.kernel.domain import ApiKey, Role
from recalld.kernel.times import from_micros as _dt
from recalld.kernel.times import to_micros as _ts

_KEY_COLUMNS = "id, tenant, name, role, secret_hash, users, agents, created_at, created_by, revoked_at, revoked_by"


class EmbeddedCredentialStore(EmbeddedStoreBase):
    """API keys and the tenants that exist: the control plane."""

    async def put_api_key(self, key: ApiKey) -> None:
        def put() -> None:
            with self._tx():
                self._conn.execute(
                    f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (key.id, key.tenant, key.name, int(key.role), key.secret_hash, json.dumps(sorted(key.users)),
                     json.dumps(sorted(key.agents)), _ts(key.created_at), key.created_by, opt_ts(key.revoked_at),
                     key.revoked_by),
                )  # fmt: skip

        await self._run(put)

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        row = await self._run(
            lambda: self._conn.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id=?", (key_id,)).fetchone()
        )
        return None if row is None else _row_to_key(row)

    async def list_api_keys(self, tenant: str, *, include_revoked: bool = False) -> list[ApiKey]:
        where = " AND ".join(
            [c for c, on in (("tenant=?", bool(tenant)), ("revoked_at IS NULL", not include_revoked)) if on] or ["1"]
        )
        rows = await self._run(
            lambda: self._conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE {where} ORDER BY created_at, id", [tenant] if tenant else []
            ).fetchall()
        )
        return [_row_to_key(r) for r in rows]

    async def revoke_api_key(self, key_id: str, at: datetime, by: str) -> ApiKey | None:
        def revoke() -> ApiKey | None:
            db = self._conn
            with self._tx():
                db.execute(
                    "UPDATE api_keys SET revoked_at=?, revoked_by=? WHERE id=? AND revoked_at IS NULL",
                    (_ts(at), by, key_id),
                )
                row = db.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id=?", (key_id,)).fetchone()
            return None if row is None else _row_to_key(row)

        return await self._run(revoke)

    async def register_tenant(self, tenant: str, at: datetime) -> None:
        def register() -> None:
            with self._tx():
                self._conn.execute("INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)", (tenant, _ts(at)))

        await self._run(register)

    async def list_tenants(self) -> list[str]:
        rows = await self._run(lambda: self._conn.execute("SELECT name FROM tenants ORDER BY name").fetchall())
        return [r[0] for r in rows]


def _row_to_key(r: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=r["id"],
        tenant=r["tenant"],
        name=r["name"],
        role=Role(r["role"]),
        secret_hash=r["secret_hash"],
        users=frozenset(json.loads(r["users"])),
        agents=frozenset(json.loads(r["agents"])),
        created_at=_dt(r["created_at"]),
        created_by=r["created_by"],
        revoked_at=opt_dt(r["revoked_at"]),
        revoked_by=r["revoked_by"],
    )
