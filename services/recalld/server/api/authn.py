"""Authentication: who is calling.

Every RPC but health needs a credential: an API key (``authorization: Bearer rk_...`` or
``x-api-key``), a JWT bearer token from a trusted issuer, or the bootstrap key. Missing or bad:
UNAUTHENTICATED. With authentication off (``RECALLD_AUTH=off``, or ``auto`` on loopback) every
caller is :data:`ANONYMOUS`, an admin of the default tenant.

The guard sets the caller's :class:`Principal` in :data:`principal_var` for the time of the call;
the servicers read it with :func:`current_principal`.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable
from contextvars import ContextVar
from pathlib import Path

from recalld.kernel.domain import DEFAULT_TENANT, ApiKey, Principal, Role
from recalld.kernel.errors import Unauthenticated
from recalld.kernel.ports import CredentialStore
from recalld.server.auth import JwtVerifier, bearer_token, hash_secret, parse_api_key, secret_matches
from recalld.server.config import Settings

ANONYMOUS = Principal(tenant=DEFAULT_TENANT, name="anonymous", role=Role.ADMIN, method="none")  # auth off
NOBODY = Principal(tenant="", name="unauthenticated", role=Role.READ, method="none")  # for refused calls
principal_var: ContextVar[Principal] = ContextVar("principal", default=ANONYMOUS)


def current_principal() -> Principal:
    return principal_var.get()


class Authenticator:
    """Credentials -> Principal. API keys are looked up in the control store and cached for
    ``cache_s`` (a key revoked through this process is dropped from its cache at once)."""

    def __init__(
        self, control: CredentialStore, *, jwt: JwtVerifier | None, bootstrap_token: str, cache_s: float
    ) -> None:
        self._control = control
        self._jwt = jwt
        self._bootstrap = hash_secret(bootstrap_token) if bootstrap_token else ""
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, control: CredentialStore) -> Authenticator:
        verifier = None
        if settings.auth.jwt_issuers:
            verifier = JwtVerifier(
                {iss: Path(path) for iss, path in settings.auth.jwt_issuers.items()},
                audience=settings.auth.jwt_audience,
                leeway_s=settings.auth.jwt_leeway_s,
            )
        token = ""
        if settings.auth.bootstrap_key_file:
            token = Path(settings.auth.bootstrap_key_file).read_text().strip()
            if len(token) < 32:
                raise ValueError("RECALLD_AUTH_BOOTSTRAP_KEY_FILE must hold a secret of at least 32 characters")
        return cls(control, jwt=verifier, bootstrap_token=token, cache_s=settings.auth.key_cache_s)

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    async def authenticate(self, metadata: Iterable[tuple[str, str | bytes]]) -> Principal:
        found = bearer_token(metadata)
        if found is None:
            raise Unauthenticated(
                "no credential: send 'authorization: Bearer <API key or JWT>' or 'x-api-key: <API key>'"
            )
        kind, token = found
        if self._bootstrap and hmac.compare_digest(hash_secret(token), self._bootstrap):
            return Principal(DEFAULT_TENANT, "bootstrap", Role.ADMIN, method="bootstrap", superuser=True)
        if kind == "bearer":
            if self._jwt is None:
                raise Unauthenticated("JWT bearer tokens are not accepted: no trusted issuer is configured")
            return self._jwt.verify(token)
        key_id, secret = parse_api_key(token)
        key = await self._key(key_id)
        if key is None or not secret_matches(secret, key.secret_hash):
            raise Unauthenticated("unknown API key")
        if not key.active:
            raise Unauthenticated(f"API key {key_id} was revoked")
        return Principal(
            tenant=key.tenant, name=key.name, role=key.role, users=key.users, agents=key.agents, key_id=key.id,
            method="api_key",
        )  # fmt: skip

    async def _key(self, key_id: str) -> ApiKey | None:
        now = time.monotonic()
        hit = self._cache.get(key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        key = await self._control.get_api_key(key_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key_id] = (now + self._cache_s, key)
        return key
