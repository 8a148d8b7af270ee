"""GrantStore of the embedded store: grants between agents of one user, kept (with
``revoked_at``) when revoked."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from recalld.graph.embedded.connection import EmbeddedStoreBase
from recalld.graph.embedded.sql import opt_dt, opt_ts
from recalld.kernel.domain import Grant
from recalld.kernel.times import from_micros as _dt
from recalld.kernel.times import to_micros as _ts

_GRANT_COLUMNS = "id, user_id, owner_agent, grantee_agent, granted_at, granted_by, revoked_at, revoked_by"


class EmbeddedGrantStore(EmbeddedStoreBase):
    """Grants between agents of one user."""

    async def put_grant(self, grant: Grant) -> Grant:
        def put() -> Grant:
            db = self._conn
            with self._tx():
                row = db.execute(
                    f"SELECT {_GRANT_COLUMNS} FROM grants WHERE user_id=? AND owner_agent=? AND grantee_agent=? "
                    "AND revoked_at IS NULL",
                    (grant.user_id, grant.owner_agent, grant.grantee_agent),
                ).fetchone()
                if row is not None:
                    return _row_to_grant(row)
                db.execute(
                    f"INSERT INTO grants ({_GRANT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                    (grant.id, grant.user_id, grant.owner_agent, grant.grantee_agent, _ts(grant.granted_at),
                     grant.granted_by, opt_ts(grant.revoked_at), grant.revoked_by),
                )  # fmt: skip
                return grant

        return await self._run(put)

    async def revoke_grant(self, user_id: str, owner_agent: str, grantee_agent: str, at: datetime, by: str) -> bool:
        def revoke() -> bool:
            with self._tx():
                return (
                    self._conn.execute(
                        "UPDATE grants SET revoked_at=?, revoked_by=? WHERE user_id=? AND owner_agent=? "
                        "AND grantee_agent=? AND revoked_at IS NULL",
                        (_ts(at), by, user_id, owner_agent, grantee_agent),
                    ).rowcount
                    > 0
                )

        return await self._run(revoke)

    async def list_grants(
        self, user_id: str, *, owner_agent: str = "", grantee_agent: str = "", include_revoked: bool = False
    ) -> list[Grant]:
        sql, params = f"SELECT {_GRANT_COLUMNS} FROM grants WHERE user_id=?", [user_id]
        if owner_agent:
            sql, params = sql + " AND owner_agent=?", [*params, owner_agent]
        if grantee_agent:
            sql, params = sql + " AND grantee_agent=?", [*params, grantee_agent]
        if not include_revoked:
            sql += " AND revoked_at IS NULL"
        rows = await self._run(lambda: self._conn.execute(sql + " ORDER BY granted_at, id", params).fetchall())
        return [_row_to_grant(r) for r in rows]


def _row_to_grant(r: sqlite3.Row) -> Grant:
    return Grant(
        id=r["id"],
        user_id=r["user_id"],
        owner_agent=r["owner_agent"],
        grantee_agent=r["grantee_agent"],
        granted_at=_dt(r["granted_at"]),
        granted_by=r["granted_by"],
        revoked_at=opt_dt(r["revoked_at"]),
        revoked_by=r["revoked_by"],
    )
