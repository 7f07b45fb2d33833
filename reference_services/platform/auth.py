"""Bearer tokens of the plant's API: who the caller is, which roles it has, which plants it sees.

Every verification key is pinned to one algorithm (HS256 secrets, RS256 public keys), so a token
cannot choose how it is checked: alg=none and HS/RS confusion fail. `kid` only selects among the
configured keys. Issuer, audience, expiry, issued-at and subject are required.
"""

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "preflight"
AUDIENCE = "plant-api"
ROLES = ("operator", "planner", "crm-integration", "admin")
ALL_PLANTS = "*"
LEEWAY_S = 5


class TokenError(Exception):
    """The token is missing, malformed, forged, expired or not meant for this API."""


@dataclass(frozen=True)
class RateLimit:
    per_second: float
    burst: int


@dataclass(frozen=True)
class Identity:
    subject: str
    roles: frozenset[str]
    plants: frozenset[str]
    rate_limit: RateLimit | None = None

    def sees_plant(self, plant: str) -> bool:
        return ALL_PLANTS in self.plants or plant in self.plants

    @property
    def plant_scope(self) -> str:
        """The X-Plant-Scope header value the gateway forwards upstream."""
        return ALL_PLANTS if ALL_PLANTS in self.plants else ",".join(sorted(self.plants))


@dataclass(frozen=True)
class VerificationKey:
    algorithm: Literal["HS256", "RS256"]
    key: str | bytes


@dataclass
class TokenVerifier:
    keys: Mapping[str, VerificationKey]
    default_kid: str | None = None
    issuer: str = ISSUER
    audience: str = AUDIENCE
    required: tuple[str, ...] = field(default=("exp", "iat", "sub", "iss", "aud"))

    def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(f"malformed token: {exc}") from None
        kid = header.get("kid", self.default_kid)
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenError("unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": list(self.required)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        return identity_from_claims(claims)


def identity_from_claims(claims: Mapping[str, Any]) -> Identity:
    roles = claims.get("roles", [])
    plants = claims.get("plants", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise TokenError("roles must be a list of names")
    if not isinstance(plants, list) or not all(isinstance(p, str) for p in plants):
        raise TokenError("plants must be a list of plant codes")
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise TokenError(f"unknown role {sorted(unknown)[0]}")
    limit = claims.get("rate_limit")
    rate_limit = None
    if isinstance(limit, dict):
        try:
            rate_limit = RateLimit(float(limit["per_second"]), int(limit["burst"]))
        except (KeyError, TypeError, ValueError):
            raise TokenError("rate_limit needs per_second and burst") from None
    return Identity(str(claims["sub"]), frozenset(roles), frozenset(plants), rate_limit)


def issue_token(
    secret: str,
    *,
    subject: str,
    roles: Iterable[str],
    plants: Iterable[str],
    ttl_s: int = 3600,
    kid: str | None = None,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    rate_limit: RateLimit | None = None,
    now: float | None = None,
    algorithm: Literal["HS256", "RS256"] = "HS256",
) -> str:
    """A token as the embedded stack's identity provider would issue it: HS256 with a secret,
    or RS256 with a PEM private key."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "roles": sorted(set(roles)),
        "plants": sorted(set(plants)),
        "iat": issued,
        "exp": issued + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    if rate_limit is not None:
        claims["rate_limit"] = {"per_second": rate_limit.per_second, "burst": rate_limit.burst}
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)


def new_rs256_private_key() -> str:
    """A fresh 2048-bit RSA private key as PKCS#8 PEM (an identity provider's signing key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def rs256_public_key(private_pem: str) -> str:
    """The PEM public key (SubjectPublicKeyInfo) a verifier pins for this private key."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def hs256_verifier(secret: str, kid: str = "embedded") -> TokenVerifier:
    return TokenVerifier(keys={kid: VerificationKey("HS256", secret)}, default_kid=kid)
