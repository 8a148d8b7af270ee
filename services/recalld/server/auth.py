"""Authentication primitives: API keys, JWT bearer tokens and the gRPC metadata that carries them.

Everything here is synchronous, pure apart from reading JWKS files, and fast: it runs on every RPC.
The server decides what a Principal may do; this module only says who is calling, or raises
``Unauthenticated`` with a message that names what is wrong without ever echoing a secret.

API keys
    A token is ``rk_<key_id>_<secret>``: ``key_id`` is 12 lowercase hex characters (public, the
    key's id in the store and the audit log), ``secret`` is ``secrets.token_urlsafe(32)`` (43 URL-safe
    base64 characters, 256 random bits). The ``rk_`` prefix makes a leaked key greppable by secret
    scanners. Only ``sha256(secret)`` is stored.

JWT bearer tokens
    Verified against JWKS files, one per trusted issuer (``{"keys": [...]}``), re-read when they
    change so that keys can be rotated in place. Only asymmetric algorithms are accepted (RS*, PS*,
    ES*, EdDSA): ``none`` and HMAC are refused outright, so a public key can never be used as an
    HMAC secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from recalld.kernel.domain import TENANT_ID, Principal, Role
from recalld.kernel.errors import Unauthenticated

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# API keys

API_KEY_PREFIX = "rk_"
_KEY_ID_CHARS = 12
_MAX_API_KEY_LEN = 200
# 12 lowercase hex characters, then a URL-safe base64 secret of 32-128 characters (43 as issued)
_API_KEY = re.compile(r"rk_([0-9a-f]{12})_([A-Za-z0-9_-]{32,128})", re.ASCII)
_MALFORMED_API_KEY = "malformed API key: expected rk_<id>_<secret>"


def hash_secret(secret: str) -> str:
    """The stored form of an API key's secret: its SHA-256, hex.

    A plain hash suffices: the secret is 256 random bits, so neither a dictionary nor brute force
    can invert it, and a slow KDF (bcrypt, argon2) would only cost CPU on every RPC."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_api_key() -> tuple[str, str, str]:
    """A fresh API key: ``(key_id, token, secret_hash)``. The token is shown to its owner once;
    only the id and the hash are stored."""
    key_id = secrets.token_hex(_KEY_ID_CHARS // 2)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{API_KEY_PREFIX}{key_id}_{secret}", hash_secret(secret)


def parse_api_key(token: str) -> tuple[str, str]:
    """``(key_id, secret)`` of an ``rk_<key_id>_<secret>`` token; anything else is Unauthenticated
    (whose message never contains the input)."""
    if not isinstance(token, str) or len(token) > _MAX_API_KEY_LEN:
        raise Unauthenticated(_MALFORMED_API_KEY)
    m = _API_KEY.fullmatch(token)
    if m is None:
        raise Unauthenticated(_MALFORMED_API_KEY)
    return m.group(1), m.group(2)


def secret_matches(secret: str, secret_hash: str) -> bool:
    """Whether ``secret`` hashes to ``secret_hash``, in constant time."""
    return hmac.compare_digest(hash_secret(secret).encode("ascii"), secret_hash.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# gRPC metadata


def bearer_token(metadata: Iterable[tuple[str, str | bytes]]) -> tuple[str, str] | None:
    """The credential in a call's metadata: ``("bearer", jwt)`` from ``authorization: Bearer <jwt>``,
    ``("api_key", token)`` from ``x-api-key: <token>`` or from a bearer token starting with ``rk_``;
    None when there is none. A malformed or ambiguous header is Unauthenticated."""
    found: list[tuple[str, str]] = []
    for key, raw in metadata:
        name = key.lower()
        if name not in ("authorization", "x-api-key"):
            continue
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("ascii")
            except UnicodeDecodeError:
                raise Unauthenticated(f"malformed {name} header: not ASCII") from None
        found.append((name, raw.strip()))
    if not found:
        return None
    if len(found) > 1:
        raise Unauthenticated("more than one credential (authorization / x-api-key headers): send exactly one")
    name, value = found[0]
    if name == "x-api-key":
        if not value:
            raise Unauthenticated("empty x-api-key header")
        return "api_key", value
    scheme, space, token = value.partition(" ")
    if scheme.lower() != "bearer":
        # name the scheme only when it is one (a word before a space), never a bare credential
        shown = f" {scheme!r}" if space and re.fullmatch(r"[A-Za-z][A-Za-z0-9._~+-]{0,19}", scheme) else ""
        raise Unauthenticated(
            f"unsupported authorization scheme{shown}: send 'authorization: Bearer <token>' or 'x-api-key: <key>'"
        )
    token = token.strip()
    if not token:
        raise Unauthenticated("empty Bearer token in the authorization header")
    if any(c.isspace() for c in token):
        raise Unauthenticated("malformed Bearer token in the authorization header: contains whitespace")
    if token.startswith(API_KEY_PREFIX):
        return "api_key", token
    return "bearer", token


# ---------------------------------------------------------------------------------------------
# JWT

_MAX_JWT_LEN = 16384
RELOAD_INTERVAL_S = 1.0  # a JWKS file is stat()ed at most this often

_RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALG_BY_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_OKP_CURVES = frozenset({"Ed25519", "Ed448"})
ALGORITHMS = _RSA_ALGS | frozenset(_EC_ALG_BY_CURVE.values()) | {"EdDSA"}
# private members of RSA / EC / OKP / oct JWKs: a verifier must never hold them
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def _algorithms_of(jwk: Mapping[str, Any]) -> frozenset[str]:
    """The asymmetric algorithms a JWK can verify (empty: unusable here)."""
    kty = jwk.get("kty")
    if kty == "RSA":
        usable = _RSA_ALGS
    elif kty == "EC":
        alg = _EC_ALG_BY_CURVE.get(jwk.get("crv", ""))
        usable = frozenset({alg}) if alg else frozenset()
    elif kty == "OKP":
        usable = frozenset({"EdDSA"}) if jwk.get("crv") in _OKP_CURVES else frozenset()
    else:  # "oct" (a shared secret) or unknown
        return frozenset()
    declared = jwk.get("alg")
    if declared is not None:
        return usable & {declared}
    return usable


@dataclass(slots=True)
class _Key:
    """One JWK of a JWKS file, and its PyJWK per algorithm, built when first used."""

    jwk: dict[str, Any]
    kid: str | None
    algorithms: frozenset[str]
    built: dict[str, jwt.PyJWK] = field(default_factory=dict)

    def for_algorithm(self, alg: str) -> jwt.PyJWK:
        key = self.built.get(alg)
        if key is None:
            key = self.built[alg] = jwt.PyJWK(self.jwk, alg)
        return key


def _read_jwks(path: Path) -> list[_Key]:
    """The usable public keys of a JWKS file; ValueError (naming the file) when there are none."""
    try:
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"JWKS file {path}: cannot be read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"JWKS file {path}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError(f'JWKS file {path}: expected a JSON object {{"keys": [...]}}')
    keys: list[_Key] = []
    for i, raw in enumerate(doc["keys"]):
        if not isinstance(raw, dict):
            log.warning("JWKS file %s: key #%d is not a JSON object; skipped", path, i)
            continue
        kid = raw.get("kid")
        label = f"key {kid!r}" if isinstance(kid, str) else f"key #{i}"
        if kid is not None and not isinstance(kid, str):
            log.warning("JWKS file %s: %s has a non-string kid; skipped", path, label)
            continue
        if raw.get("use", "sig") != "sig":
            continue  # an encryption key
        algorithms = _algorithms_of(raw)
        if not algorithms:
            log.warning(
                "JWKS file %s: %s (kty=%r, crv=%r, alg=%r) is not an asymmetric signing key recalld accepts; skipped",
                path,
                label,
                raw.get("kty"),
                raw.get("crv"),
                raw.get("alg"),
            )
            continue
        if any(m in raw for m in _PRIVATE_MEMBERS):
            log.warning("JWKS file %s: %s holds private key material; only its public part is used", path, label)
            raw = {k: v for k, v in raw.items() if k not in _PRIVATE_MEMBERS}
        key = _Key(jwk=raw, kid=kid, algorithms=algorithms)
        try:
            key.for_algorithm(min(algorithms))  # parse it now: a broken key is reported at load
        except jwt.PyJWTError as exc:
            log.warning("JWKS file %s: %s cannot be loaded (%s); skipped", path, label, exc)
            continue
        keys.append(key)
    if not keys:
        raise ValueError(f"JWKS file {path}: no usable public signing key (RSA, EC P-256/384/521, Ed25519/Ed448)")
    return keys


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class _Jwks:
    """The keys of one issuer's JWKS file, re-read when the file's mtime or size changes."""

    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded_stat = _stat(path)
        self.keys = _read_jwks(path)
        self._checked_at = clock()
        self._failed_stat: tuple[int, int] | None = None

    def current(self) -> list[_Key]:
        now = self._clock()
        if now - self._checked_at < RELOAD_INTERVAL_S:
            return self.keys
        with self._lock:
            if now - self._checked_at >= RELOAD_INTERVAL_S:
                self._checked_at = now
                self._maybe_reload()
        return self.keys

    def _maybe_reload(self) -> None:
        st = _stat(self.path)
        if st is None:
            if self._failed_stat != (-1, -1):
                self._failed_stat = (-1, -1)
                log.warning("JWKS file %s cannot be read; keeping its last good keys", self.path)
            return
        if st == self._loaded_stat:
            self._failed_stat = None  # back as it was loaded
            return
        if st == self._failed_stat:
            return  # already warned about this version
        try:
            keys = _read_jwks(self.path)
        except ValueError as exc:
            self._failed_stat = st
            log.warning("%s; keeping the last good keys", exc)
            return
        self.keys, self._loaded_stat, self._failed_stat = keys, st, None
        log.info("JWKS file %s reloaded: %d key(s)", self.path, len(keys))


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class JwtVerifier:
    """Verifies JWT bearer tokens against the JWKS files of trusted issuers and turns their claims
    into a Principal."""

    def __init__(
        self,
        issuers: Mapping[str, Path],
        *,
        audience: str = "",
        leeway_s: float = 30.0,
        tenant_claim: str = "recalld_tenant",
        role_claim: str = "recalld_role",
        users_claim: str = "recalld_users",
        agents_claim: str = "recalld_agents",
        clock: Callable[[], float] = time.monotonic,  # when JWKS files are re-checked (tests)
    ) -> None:
        self._issuers = {iss: _Jwks(Path(path), clock) for iss, path in issuers.items()}
        self.audience = audience
        self.leeway_s = leeway_s
        self.tenant_claim = tenant_claim
        self.role_claim = role_claim
        self.users_claim = users_claim
        self.agents_claim = agents_claim
        self._require = ["exp", "iss", "sub", *(["aud"] if audience else [])]

    def verify(self, token: str) -> Principal:
        """The Principal a signed, current token of a trusted issuer names; Unauthenticated otherwise."""
        if not isinstance(token, str) or not token:
            raise Unauthenticated("malformed JWT: empty")
        if len(token) > _MAX_JWT_LEN:
            raise Unauthenticated(f"malformed JWT: longer than {_MAX_JWT_LEN} characters")
        if token.count(".") != 2:
            raise Unauthenticated("malformed JWT: expected three dot-separated parts")
        try:  # one parse for the header and the (still untrusted) payload: alg, kid and iss pick the key
            unverified_complete = jwt.decode_complete(token, options={"verify_signature": False})
            header: dict[str, Any] = unverified_complete["header"]
            unverified: dict[str, Any] = unverified_complete["payload"]
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"malformed JWT: {exc}") from None

        alg = header.get("alg")
        if not isinstance(alg, str) or not alg:
            raise Unauthenticated("malformed JWT: no 'alg' in its header")
        if alg.lower() == "none":
            raise Unauthenticated("unsupported JWT algorithm 'none': unsigned tokens are refused")
        if alg.upper().startswith("HS"):
            raise Unauthenticated(
                f"unsupported JWT algorithm {_short(alg)}: HMAC (shared-secret) tokens are refused; "
                "sign with RS*, PS*, ES* or EdDSA"
            )
        if alg not in ALGORITHMS:
            raise Unauthenticated(
                f"unsupported JWT algorithm {_short(alg)}: accepted are {', '.join(sorted(ALGORITHMS))}"
            )

        iss = unverified.get("iss")
        if iss is None:
            raise Unauthenticated("JWT is missing the required claim 'iss'")
        if not isinstance(iss, str):
            raise Unauthenticated("malformed JWT: claim 'iss' is not a string")
        jwks = self._issuers.get(iss)
        if jwks is None:
            raise Unauthenticated(f"JWT issuer {_short(iss)} is not trusted")

        key = self._select_key(jwks, header.get("kid"), iss)
        if alg not in key.algorithms:
            raise Unauthenticated(
                f"unsupported JWT algorithm {alg!r} for key {key.kid!r} of issuer {_short(iss)}: "
                f"it verifies {', '.join(sorted(key.algorithms))}"
            )
        try:
            claims = jwt.decode(
                token,
                key.for_algorithm(alg),
                algorithms=[alg],
                audience=self.audience or None,
                issuer=iss,
                leeway=self.leeway_s,
                options={"require": self._require, "verify_aud": bool(self.audience)},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("JWT has expired (exp)") from None
        except jwt.ImmatureSignatureError as exc:
            which = "iat" if "(iat)" in str(exc) else "nbf"
            raise Unauthenticated(f"JWT is not yet valid ({which} is in the future)") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated(
                f"JWT has a bad signature: it does not verify with key {key.kid!r} of issuer {_short(iss)}"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"JWT is missing the required claim {exc.claim!r}") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(f"JWT has the wrong audience (aud): expected {self.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated(f"JWT issuer {_short(iss)} is not trusted") from None
        except jwt.InvalidAlgorithmError as exc:
            raise Unauthenticated(f"unsupported JWT algorithm {alg!r}: {exc}") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"malformed JWT: {exc}") from None
        return self._principal(claims)

    def _select_key(self, jwks: _Jwks, kid: object, iss: str) -> _Key:
        keys = jwks.current()
        if kid is None:
            if len(keys) == 1:
                return keys[0]
            raise Unauthenticated(
                f"JWT has no key id (kid) and issuer {_short(iss)} has {len(keys)} keys: the kid is required"
            )
        for key in keys:
            if key.kid == kid:
                return key
        raise Unauthenticated(f"unknown JWT key id (kid) {_short(kid)} for issuer {_short(iss)}")

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        tenant = claims.get(self.tenant_claim)
        if tenant is None:
            raise Unauthenticated(f"JWT is missing the required claim {self.tenant_claim!r} (the tenant)")
        if not isinstance(tenant, str) or not TENANT_ID.fullmatch(tenant):
            raise Unauthenticated(
                f"JWT claim {self.tenant_claim!r} is not a tenant id (1-32 of a-z, 0-9 and inner dashes)"
            )
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthenticated("JWT claim 'sub' must be a non-empty string")
        role_name = claims.get(self.role_claim, "read")
        roles = {r.name.lower(): r for r in Role}
        if not isinstance(role_name, str) or role_name not in roles:
            raise Unauthenticated(f"JWT claim {self.role_claim!r} must be one of {', '.join(roles)}")
        return Principal(
            tenant=tenant,
            name=sub,
            role=roles[role_name],
            users=self._names(claims, self.users_claim),
            agents=self._names(claims, self.agents_claim),
            method="jwt",
        )

    @staticmethod
    def _names(claims: Mapping[str, Any], claim: str) -> frozenset[str]:
        """A list-of-strings claim; absent: no restriction. An empty list is refused: it would read
        as "any" where its issuer most likely meant "none"."""
        value = claims.get(claim)
        if value is None:
            return frozenset()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise Unauthenticated(f"JWT claim {claim!r} must be a list of non-empty strings")
        if not value:
            raise Unauthenticated(f"JWT claim {claim!r} is an empty list: omit it to allow every one")
        return frozenset(value)
