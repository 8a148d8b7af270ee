"""GrantStore: grants between agents of one user, kept after revocation.

    (:Grant     {id, user_id, user_key, owner_agent, grantee_agent, granted_at, granted_by,
                 revoked_at, revoked_by})                    user_key indexed

Putting and revoking are serialized by the grant Counter (recalld.graph.cypher.runner.SERIALIZE):
"look for the active grant, then create" cannot interleave."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from recalld.graph.cypher.runner import SERIALIZE, CypherStoreBase, Query
from recalld.graph.cypher.values import lookup_key, opt_time
from recalld.kernel.domain import Grant
from recalld.kernel.times import from_micros, to_micros

GRANT_COUNTER = "grant"

GRANT_PROPS = (
    "id",
    "user_id",
    "owner_agent",
    "grantee_agent",
    "granted_at",
    "granted_by",
    "revoked_at",
    "revoked_by",
)
_GRANT_COLUMNS = ", ".join(f"g.{p} AS {p}" for p in GRANT_PROPS)


# The active grant of (user, owner, grantee): kept if there is one, else $grant is created.
# Returns the kept one's columns (all null when $grant was created).
PUT_GRANT = f"""
{SERIALIZE}
WITH c
OPTIONAL MATCH (g:Grant {{user_key: $user_key}})
WHERE g.user_id = $user_id AND g.owner_agent = $owner_agent AND g.grantee_agent = $grantee_agent
  AND g.revoked_at IS NULL
WITH c, collect(g) AS active
FOREACH (x IN CASE WHEN size(active) = 0 THEN [1] ELSE [] END |
  CREATE (n:Grant) SET n = $grant)
WITH head(active) AS g
RETURN {_GRANT_COLUMNS}"""

REVOKE_GRANT = f"""
{SERIALIZE}
WITH c
MATCH (g:Grant {{user_key: $user_key}})
WHERE g.user_id = $user_id AND g.owner_agent = $owner_agent AND g.grantee_agent = $grantee_agent
  AND g.revoked_at IS NULL
SET g.revoked_at = $at, g.revoked_by = $by
RETURN g.id AS id"""

LIST_GRANTS = f"""
MATCH (g:Grant {{user_key: $user_key}})
WHERE g.user_id = $user_id AND ($owner_agent = '' OR g.owner_agent = $owner_agent)
  AND ($grantee_agent = '' OR g.grantee_agent = $grantee_agent) AND ($include_revoked OR g.revoked_at IS NULL)
RETURN {_GRANT_COLUMNS} ORDER BY granted_at, id"""


def _grant_key(user_id: str, owner_agent: str, grantee_agent: str) -> dict[str, Any]:
    return {
        "user_key": lookup_key(user_id),
        "user_id": user_id,
        "owner_agent": owner_agent,
        "grantee_agent": grantee_agent,
    }


def put_grant_query(grant: Grant) -> Query:
    params = {
        "counter": GRANT_COUNTER,
        **_grant_key(grant.user_id, grant.owner_agent, grant.grantee_agent),
        "grant": grant_props(grant),
    }
    return Query("put_grant", PUT_GRANT, params)


def revoke_grant_query(user_id: str, owner_agent: str, grantee_agent: str, at: datetime, by: str) -> Query:
    params = {
        "counter": GRANT_COUNTER,
        **_grant_key(user_id, owner_agent, grantee_agent),
        "at": to_micros(at),
        "by": by,
    }
    return Query("revoke_grant", REVOKE_GRANT, params)


def list_grants_query(
    user_id: str, owner_agent: str = "", grantee_agent: str = "", include_revoked: bool = False
) -> Query:
    params = {**_grant_key(user_id, owner_agent, grantee_agent), "include_revoked": include_revoked}
    return Query("list_grants", LIST_GRANTS, params)


def grant_props(g: Grant) -> dict[str, Any]:
    return {
        "id": g.id,
        "user_id": g.user_id,
        "user_key": lookup_key(g.user_id),
        "owner_agent": g.owner_agent,
        "grantee_agent": g.grantee_agent,
        "granted_at": to_micros(g.granted_at),
        "granted_by": g.granted_by,
        "revoked_at": None if g.revoked_at is None else to_micros(g.revoked_at),
        "revoked_by": g.revoked_by,
    }


def row_to_grant(row: Mapping[str, Any]) -> Grant:
    return Grant(
        id=row["id"],
        user_id=row["user_id"],
        owner_agent=row["owner_agent"],
        grantee_agent=row["grantee_agent"],
        granted_at=from_micros(row["granted_at"]),
        granted_by=row["granted_by"] or "",
        revoked_at=opt_time(row["revoked_at"]),
        revoked_by=row["revoked_by"] or "",
    )


class CypherGrantStore(CypherStoreBase):
    """GrantStore over the runner."""

    async def put_grant(self, grant: Grant) -> Grant:
        rows = await self._runner.write(put_grant_query(grant))
        return row_to_grant(rows[0]) if rows and rows[0]["id"] is not None else grant

    async def revoke_grant(self, user_id: str, owner_agent: str, grantee_agent: str, at: datetime, by: str) -> bool:
        return bool(await self._runner.write(revoke_grant_query(user_id, owner_agent, grantee_agent, at, by)))

    async def list_grants(
        self, user_id: str, *, owner_agent: str = "", grantee_agent: str = "", include_revoked: bool = False
    ) -> list[Grant]:
        query = list_grants_query(user_id, owner_agent, grantee_agent, include_revoked)
        return [row_to_grant(r) for r in await self._runner.read(query)]
