"""Grants between agents: one agent lets another read what it remembered about a user.

Grants are data in the system of record: created, listed and revoked through the API, and kept
after revocation (who granted and revoked, and when) as the audit trail. A Search over the
shared level (recalld.core.retrieval) reads the grants at query time, so a revocation takes
effect on the next Search.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from recalld.kernel.domain import Grant, Scope
from recalld.kernel.errors import InvalidArgument, NotFound
from recalld.kernel.ports import GrantStore
from recalld.kernel.validation import validate_new_scope, validate_scope


class Sharing:
    def __init__(self, *, graph: GrantStore) -> None:
        self._graph = graph

    @staticmethod
    def _check(user_id: str, owner_agent: str, grantee_agent: str = "", *, grantee_required: bool = True) -> None:
        validate_scope(Scope(user_id, owner_agent or "-", ""))
        if not user_id:
            raise InvalidArgument("user_id is required: a grant shares what an agent remembered about one user")
        if not owner_agent:
            raise InvalidArgument("owner_agent is required: the agent whose memories are shared")
        if grantee_required and not grantee_agent:
            raise InvalidArgument("grantee_agent is required: the agent that may read them")
        if grantee_agent:
            validate_scope(Scope(user_id, grantee_agent, ""))
        if grantee_agent and grantee_agent == owner_agent:
            raise InvalidArgument("an agent always reads its own memories; grant to another agent")

    async def grant(self, user_id: str, owner_agent: str, grantee_agent: str, *, by: str = "") -> Grant:
        """Idempotent: granting what is granted returns the existing grant."""
        self._check(user_id, owner_agent, grantee_agent)
        validate_new_scope(Scope(user_id, owner_agent, ""))
        validate_new_scope(Scope(user_id, grantee_agent, ""))
        return await self._graph.put_grant(
            Grant(
                id=str(uuid.uuid4()),
                user_id=user_id,
                owner_agent=owner_agent,
                grantee_agent=grantee_agent,
                granted_at=datetime.now(UTC),
                granted_by=by or owner_agent,
            )
        )

    async def revoke(self, user_id: str, owner_agent: str, grantee_agent: str, *, by: str = "") -> None:
        self._check(user_id, owner_agent, grantee_agent)
        if not await self._graph.revoke_grant(
            user_id, owner_agent, grantee_agent, datetime.now(UTC), by or owner_agent
        ):
            raise NotFound(f"{owner_agent!r} has no active grant to {grantee_agent!r} about user {user_id!r}")

    async def list(
        self, user_id: str, *, owner_agent: str = "", grantee_agent: str = "", include_revoked: bool = False
    ) -> list[Grant]:
        if not user_id:
            raise InvalidArgument("user_id is required")
        validate_scope(Scope(user_id))
        for name, v in (("owner_agent", owner_agent), ("grantee_agent", grantee_agent)):
            if v:
                validate_scope(Scope(user_id, v))
            if len(v) > 256:
                raise InvalidArgument(f"{name} is longer than 256 characters")
        return await self._graph.list_grants(
            user_id, owner_agent=owner_agent, grantee_agent=grantee_agent, include_revoked=include_revoked
        )
