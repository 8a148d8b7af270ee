"""Authentication primitives: API keys, JWT verification against JWKS files (real keys, real
signatures), and the gRPC metadata that carries a credential."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from recalld.kernel.domain import Principal, Role
from recalld.kernel.errors import Unauthenticated
from recalld.server.auth import (
    JwtVerifier,
    bearer_token,
    hash_secret,
    new_api_key,
    parse_api_key,
    secret_matches,
)

ISS = "https://idp.example.com/"
OTHER_ISS = "https://other.example.com/"
AUD = "recalld"

# ------------------------------------------------------------------------------------------------
# keys and helpers


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_key2() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str | None, **extra: str) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    return {**jwk, **extra}


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str | None) -> dict[str, Any]:
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def write_jwks(path: Path, *keys: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"keys": list(keys)}))
    return path


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISS,
        "sub": "svc-chat",
        "aud": AUD,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "recalld_tenant": "acme",
        "recalld_role": "write",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}  # None: drop the claim


def sign(key: Any, alg: str, kid: str | None = "k1", **over: Any) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims(**over), key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> JwtVerifier:
    jwks = write_jwks(tmp_path / "idp.json", rsa_jwk(rsa_key, "k1"), ec_jwk(ec_key, "e1"))
    return JwtVerifier({ISS: jwks}, audience=AUD)


def rejected(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as info:
        verifier.verify(token)
    message = str(info.value)
    assert not token or token not in message
    return message


# ------------------------------------------------------------------------------------------------
# good tokens


def test_rs256_token_gives_its_principal(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = sign(rsa_key, "RS256", recalld_users=["u1", "u2"], recalld_agents=["a1"])
    assert verifier.verify(token) == Principal(
        tenant="acme",
        name="svc-chat",
        role=Role.WRITE,
        users=frozenset({"u1", "u2"}),
        agents=frozenset({"a1"}),
        key_id="",
        method="jwt",
        superuser=False,
    )


def test_es256_token_role_defaults_to_read(verifier: JwtVerifier, ec_key: ec.EllipticCurvePrivateKey) -> None:
    p = verifier.verify(sign(ec_key, "ES256", kid="e1", recalld_role=None, recalld_tenant="t-2"))
    assert p == Principal(tenant="t-2", name="svc-chat", role=Role.READ, method="jwt")


def test_admin_role_and_list_audience(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    p = verifier.verify(sign(rsa_key, "RS512", recalld_role="admin", aud=["other", AUD]))
    assert p.role is Role.ADMIN


def test_rsa_key_without_alg_verifies_ps256(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert verifier.verify(sign(rsa_key, "PS256")).tenant == "acme"


def test_key_with_declared_alg_refuses_other_algorithms(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    v = JwtVerifier({ISS: write_jwks(tmp_path / "j.json", rsa_jwk(rsa_key, "k1", alg="RS256"))}, audience=AUD)
    assert v.verify(sign(rsa_key, "RS256")).name == "svc-chat"
    assert "unsupported JWT algorithm 'PS256' for key 'k1'" in rejected(v, sign(rsa_key, "PS256"))


def test_eddsa_and_single_key_without_kid(tmp_path: Path, ed_key: ed25519.Ed25519PrivateKey) -> None:
    jwk: dict[str, Any] = OKPAlgorithm.to_jwk(ed_key.public_key(), as_dict=True)
    v = JwtVerifier({ISS: write_jwks(tmp_path / "ed.json", jwk)})  # no audience configured
    p = v.verify(sign(ed_key, "EdDSA", kid=None, aud=None))
    assert (p.tenant, p.name, p.role) == ("acme", "svc-chat", Role.WRITE)
    # no audience configured: a token that carries one is not refused for it
    assert v.verify(sign(ed_key, "EdDSA", kid=None)).name == "svc-chat"


def test_leeway_accepts_slightly_expired(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    jwks = write_jwks(tmp_path / "j.json", rsa_jwk(rsa_key, "k1"))
    token = sign(rsa_key, "RS256", exp=int(time.time()) - 10)
    assert JwtVerifier({ISS: jwks}, audience=AUD, leeway_s=30).verify(token).tenant == "acme"
    assert "JWT has expired (exp)" in rejected(JwtVerifier({ISS: jwks}, audience=AUD, leeway_s=0), token)


def test_custom_claim_names(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    v = JwtVerifier(
        {ISS: write_jwks(tmp_path / "j.json", rsa_jwk(rsa_key, "k1"))},
        tenant_claim="org",
        role_claim="perm",
        users_claim="u",
        agents_claim="a",
    )
    token = sign(rsa_key, "RS256", aud=None, recalld_tenant=None, recalld_role=None, org="o1", perm="admin", u=["x"])
    assert v.verify(token) == Principal(
        tenant="o1", name="svc-chat", role=Role.ADMIN, users=frozenset({"x"}), method="jwt"
    )


# ------------------------------------------------------------------------------------------------
# refused tokens


def test_expired(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    msg = rejected(verifier, sign(rsa_key, "RS256", exp=int(time.time()) - 120))
    assert msg == "JWT has expired (exp)"


def test_not_yet_valid(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    msg = rejected(verifier, sign(rsa_key, "RS256", nbf=int(time.time()) + 120))
    assert msg == "JWT is not yet valid (nbf is in the future)"
    msg = rejected(verifier, sign(rsa_key, "RS256", iat=int(time.time()) + 120))
    assert msg == "JWT is not yet valid (iat is in the future)"


def test_missing_exp(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert rejected(verifier, sign(rsa_key, "RS256", exp=None)) == "JWT is missing the required claim 'exp'"


def test_signed_by_another_key_with_same_kid(verifier: JwtVerifier, rsa_key2: rsa.RSAPrivateKey) -> None:
    msg = rejected(verifier, sign(rsa_key2, "RS256", kid="k1"))
    assert msg.startswith("JWT has a bad signature: it does not verify with key 'k1'")


def test_tampered_payload(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    header, _, signature = sign(rsa_key, "RS256").split(".")
    forged = b64(json.dumps(claims(recalld_role="admin")).encode())
    assert rejected(verifier, f"{header}.{forged}.{signature}").startswith("JWT has a bad signature")


def test_unknown_kid(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    msg = rejected(verifier, sign(rsa_key, "RS256", kid="nope"))
    assert msg == f"unknown JWT key id (kid) 'nope' for issuer {ISS!r}"


def test_missing_kid_with_several_keys(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert "JWT has no key id (kid)" in rejected(verifier, sign(rsa_key, "RS256", kid=None))


def test_untrusted_issuer(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert rejected(verifier, sign(rsa_key, "RS256", iss=OTHER_ISS)) == f"JWT issuer {OTHER_ISS!r} is not trusted"
    assert rejected(verifier, sign(rsa_key, "RS256", iss=None)) == "JWT is missing the required claim 'iss'"


def test_issuer_keys_do_not_cross(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, rsa_key2: rsa.RSAPrivateKey) -> None:
    """A token claiming issuer B, signed by issuer A's key (same kid), is checked against B's keys."""
    v = JwtVerifier(
        {
            ISS: write_jwks(tmp_path / "a.json", rsa_jwk(rsa_key, "k1")),
            OTHER_ISS: write_jwks(tmp_path / "b.json", rsa_jwk(rsa_key2, "k1")),
        }
    )
    assert v.verify(sign(rsa_key2, "RS256", iss=OTHER_ISS, aud=None)).name == "svc-chat"
    assert rejected(v, sign(rsa_key, "RS256", iss=OTHER_ISS, aud=None)).startswith("JWT has a bad signature")


def test_audience(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert rejected(verifier, sign(rsa_key, "RS256", aud="someone-else")) == (
        "JWT has the wrong audience (aud): expected 'recalld'"
    )
    assert rejected(verifier, sign(rsa_key, "RS256", aud=None)) == "JWT is missing the required claim 'aud'"


def test_alg_none_is_refused(verifier: JwtVerifier) -> None:
    for alg in ("none", "None", "NONE"):
        header = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": "k1"}).encode())
        payload = b64(json.dumps(claims(recalld_role="admin")).encode())
        for token in (f"{header}.{payload}.", f"{header}.{payload}.{b64(b'x')}"):
            assert rejected(verifier, token) == "unsupported JWT algorithm 'none': unsigned tokens are refused"


def test_hs256_with_public_key_as_secret_is_refused(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    """The classic key-confusion attack: HMAC over the token keyed with the issuer's public key."""
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    jwk_text = json.dumps(rsa_jwk(rsa_key, "k1"))
    v = JwtVerifier({ISS: write_jwks(tmp_path / "j.json", rsa_jwk(rsa_key, "k1"))}, audience=AUD)
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    payload = b64(json.dumps(claims(recalld_role="admin")).encode())
    for secret in (pem, jwk_text.encode()):
        sig = b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        msg = rejected(v, f"{header}.{payload}.{sig}")
        assert msg.startswith("unsupported JWT algorithm 'HS256': HMAC (shared-secret) tokens are refused")


def test_oct_keys_in_jwks_are_ignored(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    oct_key = {"kty": "oct", "kid": "h1", "k": b64(b"shared-secret-shared-secret-1234")}
    v = JwtVerifier({ISS: write_jwks(tmp_path / "j.json", oct_key, rsa_jwk(rsa_key, "k1"))}, audience=AUD)
    assert v.verify(sign(rsa_key, "RS256")).name == "svc-chat"
    token = jwt.encode(claims(), b"shared-secret-shared-secret-1234", algorithm="HS256", headers={"kid": "h1"})
    assert "HMAC (shared-secret) tokens are refused" in rejected(v, token)
    with pytest.raises(ValueError, match=r"only\.json: no usable public signing key"):
        JwtVerifier({ISS: write_jwks(tmp_path / "only.json", oct_key)})


def test_unsupported_algorithm(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    header = b64(json.dumps({"alg": "XS999", "kid": "k1"}).encode())
    payload = b64(json.dumps(claims()).encode())
    assert rejected(verifier, f"{header}.{payload}.{b64(b'sig')}").startswith("unsupported JWT algorithm 'XS999'")
    # an ES256 header on a token whose kid names an RSA key
    header = b64(json.dumps({"alg": "ES256", "kid": "k1"}).encode())
    msg = rejected(verifier, f"{header}.{payload}.{b64(b'sig')}")
    assert msg.startswith("unsupported JWT algorithm 'ES256' for key 'k1'")


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"recalld_tenant": None}, "JWT is missing the required claim 'recalld_tenant' (the tenant)"),
        ({"recalld_tenant": "Acme"}, "JWT claim 'recalld_tenant' is not a tenant id"),
        ({"recalld_tenant": "a" * 33}, "JWT claim 'recalld_tenant' is not a tenant id"),
        ({"recalld_tenant": "-x"}, "JWT claim 'recalld_tenant' is not a tenant id"),
        ({"recalld_tenant": 7}, "JWT claim 'recalld_tenant' is not a tenant id"),
        ({"sub": None}, "JWT is missing the required claim 'sub'"),
        ({"sub": ""}, "JWT claim 'sub' must be a non-empty string"),
        ({"recalld_role": "root"}, "JWT claim 'recalld_role' must be one of read, write, admin"),
        ({"recalld_role": 3}, "JWT claim 'recalld_role' must be one of read, write, admin"),
        ({"recalld_role": "WRITE"}, "JWT claim 'recalld_role' must be one of read, write, admin"),
        ({"recalld_users": "u1"}, "JWT claim 'recalld_users' must be a list of non-empty strings"),
        ({"recalld_users": ["u1", 2]}, "JWT claim 'recalld_users' must be a list of non-empty strings"),
        ({"recalld_users": ["u1", ""]}, "JWT claim 'recalld_users' must be a list of non-empty strings"),
        ({"recalld_users": []}, "JWT claim 'recalld_users' is an empty list"),
        ({"recalld_agents": {"a": 1}}, "JWT claim 'recalld_agents' must be a list of non-empty strings"),
    ],
)
def test_bad_claims(verifier: JwtVerifier, rsa_key: rsa.RSAPrivateKey, over: dict[str, Any], expected: str) -> None:
    assert expected in rejected(verifier, sign(rsa_key, "RS256", **over))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "not.a.jwt",
        "eyJhbGciOiJSUzI1NiJ9.!!!!.sig",
        b64(b"[1,2]") + "." + b64(b"{}") + ".x",
        b64(b'{"alg":"RS256"}') + "." + b64(b"[]") + "." + b64(b"x"),
        "x" * 20000,
    ],
)
def test_garbage(verifier: JwtVerifier, token: str) -> None:
    msg = rejected(verifier, token)
    assert msg.startswith("malformed JWT")


def test_invalid_jwks_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"missing\.json: cannot be read"):
        JwtVerifier({ISS: tmp_path / "missing.json"})
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ValueError, match=r"bad\.json: not JSON"):
        JwtVerifier({ISS: tmp_path / "bad.json"})
    (tmp_path / "shape.json").write_text("[]")
    with pytest.raises(ValueError, match=r"shape\.json: expected a JSON object"):
        JwtVerifier({ISS: tmp_path / "shape.json"})
    write_jwks(tmp_path / "empty.json")
    with pytest.raises(ValueError, match=r"empty\.json: no usable public signing key"):
        JwtVerifier({ISS: tmp_path / "empty.json"})


def test_private_key_material_is_dropped(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    private: dict[str, Any] = RSAAlgorithm.to_jwk(rsa_key, as_dict=True)
    v = JwtVerifier({ISS: write_jwks(tmp_path / "j.json", {**private, "kid": "k1"})}, audience=AUD)
    assert v.verify(sign(rsa_key, "RS256")).name == "svc-chat"


# ------------------------------------------------------------------------------------------------
# JWKS rotation


def _bump_mtime(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def test_jwks_rotation(
    tmp_path: Path,
    clock: Clock,
    rsa_key: rsa.RSAPrivateKey,
    rsa_key2: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write_jwks(tmp_path / "idp.json", rsa_jwk(rsa_key, "old"))
    v = JwtVerifier({ISS: path}, audience=AUD, clock=clock)
    old, new = sign(rsa_key, "RS256", kid="old"), sign(rsa_key2, "RS256", kid="new")
    assert v.verify(old).name == "svc-chat"
    assert "unknown JWT key id (kid) 'new'" in rejected(v, new)

    # both keys published: the file is re-read, but not before a second has passed
    write_jwks(path, rsa_jwk(rsa_key, "old"), rsa_jwk(rsa_key2, "new"))
    _bump_mtime(path)
    clock.now += 0.5
    assert "unknown JWT key id (kid) 'new'" in rejected(v, new)
    clock.now += 0.6
    assert v.verify(new).name == "svc-chat"
    assert v.verify(old).name == "svc-chat"

    # the old key withdrawn
    write_jwks(path, rsa_jwk(rsa_key2, "new"))
    _bump_mtime(path)
    clock.now += 1.1
    assert "unknown JWT key id (kid) 'old'" in rejected(v, old)
    assert v.verify(new).name == "svc-chat"

    # a broken or missing file keeps the last good keys, with a warning
    caplog.set_level(logging.WARNING, logger="recalld.server.auth")
    path.write_text("{broken")
    _bump_mtime(path)
    clock.now += 1.1
    assert v.verify(new).name == "svc-chat"
    assert any("not JSON" in r.getMessage() and "keeping the last good keys" in r.getMessage() for r in caplog.records)
    caplog.clear()
    path.unlink()
    clock.now += 1.1
    assert v.verify(new).name == "svc-chat"
    assert any("cannot be read; keeping its last good keys" in r.getMessage() for r in caplog.records)

    # and when it comes back, it is read again
    write_jwks(path, rsa_jwk(rsa_key, "old"))
    clock.now += 1.1
    assert v.verify(old).name == "svc-chat"
    assert "unknown JWT key id (kid) 'new'" in rejected(v, new)


# ------------------------------------------------------------------------------------------------
# API keys


def test_api_key_round_trip() -> None:
    key_id, token, secret_hash = new_api_key()
    assert len(key_id) == 12 and key_id == key_id.lower()
    assert token.startswith(f"rk_{key_id}_")
    parsed_id, secret = parse_api_key(token)
    assert parsed_id == key_id
    assert len(secret) == 43
    assert secret_hash == hash_secret(secret) and len(secret_hash) == 64
    assert secret_matches(secret, secret_hash)
    assert secret not in secret_hash


def test_api_keys_are_distinct() -> None:
    keys = [new_api_key() for _ in range(50)]
    assert len({k[0] for k in keys}) == 50 and len({k[1] for k in keys}) == 50


def test_tampered_secret_does_not_match() -> None:
    _, token, secret_hash = new_api_key()
    _, secret = parse_api_key(token)
    flipped = ("A" if secret[0] != "A" else "B") + secret[1:]
    assert not secret_matches(flipped, secret_hash)
    assert not secret_matches(secret, secret_hash.upper())
    assert not secret_matches(secret, "")
    assert not secret_matches(secret, "é" * 64)


def _good() -> str:
    return new_api_key()[1]


@pytest.mark.parametrize(
    "make",
    [
        lambda: "",
        lambda: "rk_",
        lambda: "rk__",
        lambda: "xk" + _good()[2:],  # wrong prefix
        lambda: _good()[3:],  # no prefix
        lambda: "RK" + _good()[2:],
        lambda: _good() + "A" * 100,  # too long
        lambda: _good() + "x" * 1000,
        lambda: _good()[:30],  # secret too short
        lambda: _good()[:-1] + "!",  # bad character
        lambda: _good()[:-1] + "é",
        lambda: _good() + "\n",
        lambda: " " + _good(),
        lambda: _good().replace("_", ".", 2),
        lambda: "rk_ABCDEF012345_" + "a" * 43,  # uppercase id
        lambda: "rk_abcdef01234_" + "a" * 43,  # 11-character id
    ],
)
def test_malformed_api_keys(make: Callable[[], str]) -> None:
    token = make()
    with pytest.raises(Unauthenticated) as info:
        parse_api_key(token)
    assert str(info.value) == "malformed API key: expected rk_<id>_<secret>"


def test_secret_with_underscores_parses() -> None:
    token = "rk_0123456789ab_" + "_-" * 20 + "abc"
    assert parse_api_key(token) == ("0123456789ab", "_-" * 20 + "abc")


# ------------------------------------------------------------------------------------------------
# metadata


def test_bearer_token_variants() -> None:
    _, key, _ = new_api_key()
    assert bearer_token([]) is None
    assert bearer_token([("user-agent", "grpc-python"), ("x-request-id", "r1")]) is None
    assert bearer_token([("authorization", "Bearer abc.def.ghi")]) == ("bearer", "abc.def.ghi")
    assert bearer_token([("authorization", "bearer   abc.def.ghi  ")]) == ("bearer", "abc.def.ghi")
    assert bearer_token([("Authorization", b"Bearer abc.def.ghi")]) == ("bearer", "abc.def.ghi")
    assert bearer_token([("authorization", f"Bearer {key}")]) == ("api_key", key)
    assert bearer_token([("x-api-key", key)]) == ("api_key", key)
    assert bearer_token([("x-api-key", key.encode())]) == ("api_key", key)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ([("authorization", "Basic dXNlcjpwYXNz")], "unsupported authorization scheme 'Basic'"),
        ([("authorization", "dXNlcjpwYXNz")], "unsupported authorization scheme: send"),
        ([("authorization", "Bearer")], "empty Bearer token"),
        ([("authorization", "Bearer   ")], "empty Bearer token"),
        ([("authorization", "")], "unsupported authorization scheme"),
        ([("authorization", "Bearer a b")], "malformed Bearer token in the authorization header"),
        ([("authorization", b"Bearer \xff\xfe")], "malformed authorization header: not ASCII"),
        ([("x-api-key", "")], "empty x-api-key header"),
        ([("authorization", "Bearer a.b.c"), ("x-api-key", "rk_x")], "more than one credential"),
        ([("authorization", "Bearer a.b.c"), ("authorization", "Bearer d.e.f")], "more than one credential"),
    ],
)
def test_bearer_token_malformed(metadata: list[tuple[str, str | bytes]], expected: str) -> None:
    with pytest.raises(Unauthenticated, match=expected):
        bearer_token(metadata)


def test_bearer_token_does_not_echo_a_secret_scheme() -> None:
    secret = "s3cr3t:p@ss/word+long-enough-to-be-a-secret"
    with pytest.raises(Unauthenticated) as info:
        bearer_token([("authorization", secret)])
    assert secret not in str(info.value) and "p@ss" not in str(info.value)
