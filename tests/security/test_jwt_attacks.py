"""OWASP API2 (broken authentication): the JWT attack matrix against the gateway.

Every token below is refused with 401 `unauthorized` and an `invalid_token` challenge: no
algorithm (alg=none), HS/RS confusion (the RS256 public key used as an HMAC secret), algorithms
the key is not pinned to, lapsed or future validity, a token meant for another audience or
issuer, a tampered signature or payload, and a kid that tries to pick the key (path traversal,
SQL, huge, of another algorithm's key, unknown). Tokens signed as the target's identity provider
signs them, HS256 and RS256, are accepted: the matrix is checked against a gateway that works.
RS256 cases need the target's RS256 key ([auth] rs256_private_key / rs256_kid) and skip without.
"""

import base64
import functools
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from jwt.algorithms import RSAAlgorithm

from preflight.clients.gateway import GatewayCallers
from preflight.expect import expect_problem, expect_status
from preflight.tokens import signing_key
from reference_services.platform.auth import (
    AUDIENCE,
    ISSUER,
    new_rs256_private_key,
    rs256_public_key,
)

HOUR = 3600
DIGESTS = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}


@dataclass(frozen=True)
class Keys:
    """What the target's identity provider signs with, as far as the target tells."""

    secret: str
    secret_kid: str | None
    private_pem: str | None = None
    rs256_kid: str | None = None

    def rs256(self) -> tuple[str, str]:
        if self.private_pem is None or self.rs256_kid is None:
            pytest.skip("the target gives no RS256 key ([auth] rs256_private_key, rs256_kid)")
        return self.private_pem, self.rs256_kid

    @property
    def public_pem(self) -> str:
        return rs256_public_key(self.rs256()[0])


def segment(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(*, iat_in: int = 0, exp_in: int = 600, **changes: Any) -> dict[str, Any]:
    """An admin's claims for every plant, issued and expiring relative to now."""
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": f"mallory-{uuid.uuid4().hex[:8]}",
    }
    body |= {"roles": ["admin"], "plants": ["*"], "iat": now + iat_in, "exp": now + exp_in}
    return body | changes


def without(claim: str) -> dict[str, Any]:
    return {name: value for name, value in claims().items() if name != claim}


def hmac_signed(
    secret: str | bytes, body: dict[str, Any], alg: str = "HS256", **header: Any
) -> str:
    """HMAC-signed by hand: PyJWT (rightly) refuses a PEM or an empty key as an HMAC secret."""
    key = secret.encode() if isinstance(secret, str) else secret
    signing_input = f"{segment({'alg': alg, 'typ': 'JWT'} | header)}.{segment(body)}"
    digest = hmac.new(key, signing_input.encode(), DIGESTS[alg]).digest()
    return f"{signing_input}.{segment(digest)}"


def unsigned(body: dict[str, Any], alg: str = "none", **header: Any) -> str:
    return f"{segment({'alg': alg, 'typ': 'JWT'} | header)}.{segment(body)}."


def secret_signed(keys: Keys, body: dict[str, Any], **header: Any) -> str:
    kid = {"kid": keys.secret_kid} if keys.secret_kid else {}
    return hmac_signed(keys.secret, body, **(kid | header))


def rsa_signed(keys: Keys, body: dict[str, Any], *, key: str | None = None, **header: Any) -> str:
    private_pem, kid = keys.rs256()
    return jwt.encode(body, key or private_pem, algorithm="RS256", headers={"kid": kid} | header)


def with_signature_of(token: str, other: str) -> str:
    return token.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1]


def tampered_signature(token: str) -> str:
    head, signature = token.rsplit(".", 1)
    return f"{head}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


@functools.cache
def attacker_key() -> str:
    return new_rs256_private_key()


def attacker_jwk() -> dict[str, Any]:
    public = RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(rs256_public_key(attacker_key()))
    return RSAAlgorithm.to_jwk(public, as_dict=True)


ATTACKS: dict[str, Callable[[Keys], str]] = {
    # no signature, or an algorithm the key is not pinned to
    "alg none": lambda k: unsigned(claims()),
    "alg NONE under the HS kid": lambda k: unsigned(claims(), "NONE", kid=k.secret_kid or "x"),
    "alg none under the RS kid": lambda k: unsigned(claims(), kid=k.rs256()[1]),
    "HS512 with the signing key": lambda k: secret_signed(k, claims(), alg="HS512"),
    # HS/RS confusion
    "HS256 keyed with the RS public key under the RS kid": lambda k: hmac_signed(
        k.public_pem, claims(), kid=k.rs256()[1]
    ),
    "HS256 keyed with the RS public key, no kid": lambda k: hmac_signed(k.public_pem, claims()),
    "RS256 under the HS key's kid": lambda k: rsa_signed(
        k, claims(), kid=k.secret_kid or "embedded"
    ),
    "RS256 without kid": lambda k: jwt.encode(claims(), k.rs256()[0], algorithm="RS256"),
    "RS256 by another key under the RS kid": lambda k: rsa_signed(k, claims(), key=attacker_key()),
    "RS256 bringing its own jwk": lambda k: rsa_signed(
        k, claims(), key=attacker_key(), jwk=attacker_jwk()
    ),
    "RS256 pointing at its own jku": lambda k: rsa_signed(
        k, claims(), key=attacker_key(), jku="http://127.0.0.1:9/jwks.json"
    ),
    # forged, lapsed or misdirected
    "forged HS256": lambda k: hmac_signed("not-the-key-" * 4, claims()),
    "expired HS256": lambda k: secret_signed(k, claims(iat_in=-2 * HOUR, exp_in=-HOUR)),
    "expired RS256": lambda k: rsa_signed(k, claims(iat_in=-2 * HOUR, exp_in=-HOUR)),
    "not yet valid (nbf)": lambda k: secret_signed(
        k, claims(exp_in=2 * HOUR) | {"nbf": int(time.time()) + HOUR}
    ),
    "issued in the future": lambda k: secret_signed(k, claims(iat_in=HOUR, exp_in=2 * HOUR)),
    "other audience": lambda k: secret_signed(k, claims(aud="billing")),
    "other audience RS256": lambda k: rsa_signed(k, claims(aud="billing")),
    "other issuer": lambda k: secret_signed(k, claims(iss="https://idp.attacker.example")),
    "no expiry": lambda k: secret_signed(k, without("exp")),
    "no audience": lambda k: secret_signed(k, without("aud")),
    "no subject": lambda k: secret_signed(k, without("sub")),
    "a role no policy knows": lambda k: secret_signed(k, claims(roles=["root"])),
    # tampered
    "tampered HS256 signature": lambda k: tampered_signature(secret_signed(k, claims())),
    "tampered RS256 signature": lambda k: tampered_signature(rsa_signed(k, claims())),
    "payload swapped under a valid signature": lambda k: with_signature_of(
        secret_signed(k, claims(roles=["admin"])),
        secret_signed(k, claims(roles=["operator"], plants=["P1"])),
    ),
    "malformed": lambda k: "not-a-jwt",
    "truncated": lambda k: secret_signed(k, claims())[:-10],
    # kid injection: signed with what the injected kid would make the key, or the real secret
    "kid path traversal to /dev/null": lambda k: hmac_signed(
        b"", claims(), kid="../../../../dev/null"
    ),
    "kid SQL injection": lambda k: hmac_signed(k.secret, claims(), kid="x' OR '1'='1"),
    "kid SQL union": lambda k: hmac_signed(
        "attacker", claims(), kid="x' UNION SELECT 'attacker' --"
    ),
    "very long kid": lambda k: hmac_signed(k.secret, claims(), kid="k" * 4096),
    "kid as a number": lambda k: hmac_signed(k.secret, claims(), kid=1),
    "kid as a list": lambda k: hmac_signed(k.secret, claims(), kid=[k.secret_kid or "embedded"]),
    "unknown kid": lambda k: hmac_signed(k.secret, claims(), kid="rotated"),
}


@pytest.fixture
def keys(callers: GatewayCallers) -> Keys:
    target = callers.target
    return Keys(signing_key(target), target.signing_kid, target.rs256_private_key, target.rs256_kid)


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_token_the_gateway_must_not_trust_is_unauthorized(
    callers: GatewayCallers, keys: Keys, attack: str
) -> None:
    token = ATTACKS[attack](keys)

    response = callers.with_token(token).list_orders(limit=1)

    expect_problem(response, 401, "unauthorized")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "signed",
    [
        pytest.param(lambda k: secret_signed(k, claims()), id="HS256 with the signing key"),
        pytest.param(lambda k: hmac_signed(k.secret, claims()), id="HS256 without kid"),
        pytest.param(lambda k: rsa_signed(k, claims()), id="RS256 with the pinned key"),
        pytest.param(
            lambda k: rsa_signed(k, claims(iat_in=-HOUR, exp_in=HOUR)),
            id="RS256 issued an hour ago",
        ),
    ],
)
def test_a_token_signed_as_the_identity_provider_signs_it_is_accepted(
    callers: GatewayCallers, keys: Keys, signed: Callable[[Keys], str]
) -> None:
    response = callers.with_token(signed(keys)).list_orders(limit=1)

    expect_status(response, 200)
