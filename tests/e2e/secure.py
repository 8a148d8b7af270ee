"""A `recalld serve` process with authentication on, and the credentials to talk to it: the
bootstrap key, API keys per tenant and role, and a JWT issuer whose JWKS file the server trusts.

    with SecureServer(tmp_path, env=backends) as s:
        admin_a = s.key("tenant-a", "admin")
        with s.client(admin_a) as c: ...
        token = s.jwt(tenant="tenant-b", sub="svc", role="write")
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from recalld.client import Recalld, RetryPolicy
from tests.harness import ServerProcess

ISSUER = "https://idp.test.recalld"
AUDIENCE = "recalld"
NO_RETRY = RetryPolicy(attempts=1)


class SecureServer:
    def __init__(self, root: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.bootstrap = "bootstrap-" + secrets.token_hex(24)
        (root / "bootstrap.key").write_text(self.bootstrap + "\n")
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.signing_key.public_key()))
        jwk |= {"kid": "k1", "alg": "RS256", "use": "sig"}
        (root / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
        self.env = {
            "RECALLD_AUTH": "on",
            "RECALLD_AUTH_BOOTSTRAP_KEY_FILE": str(root / "bootstrap.key"),
            "RECALLD_AUTH_JWT_ISSUERS": f"{ISSUER}={root / 'jwks.json'}",
            "RECALLD_AUTH_JWT_AUDIENCE": AUDIENCE,
            "RECALLD_RECONCILE_INTERVAL_S": "0",
            **(env or {}),
        }
        self.server = ServerProcess(root / "data", env=self.env)
        self._keys: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], str] = {}

    @property
    def address(self) -> str:
        return self.server.address

    def __enter__(self) -> SecureServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def client(self, token: str = "", **kwargs: Any) -> Recalld:
        kwargs.setdefault("retry", NO_RETRY)
        return Recalld(self.address, api_key=token, **kwargs)

    def key(self, tenant: str, role: str = "admin", *, users: Sequence[str] = (), agents: Sequence[str] = ()) -> str:
        """An API key of ``tenant`` with ``role`` (made once with the bootstrap key, then reused)."""
        wanted = (tenant, role, tuple(users), tuple(agents))
        if wanted not in self._keys:
            with self.client(self.bootstrap) as c:
                _, token = c.create_api_key(
                    f"{tenant}-{role}", role=role, tenant=tenant, user_ids=users, agent_ids=agents
                )
            self._keys[wanted] = token
        return self._keys[wanted]

    def jwt(self, *, tenant: str, sub: str = "svc", role: str = "read", **claims: Any) -> str:
        """A JWT signed by the trusted issuer (override any claim, e.g. exp=, iss=, aud=)."""
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "iat": now,
            "exp": now + 300,
            "recalld_tenant": tenant,
            "recalld_role": role,
            **claims,
        }
        return jwt.encode(body, self.signing_key, algorithm="RS256", headers={"kid": "k1"})
