"""Tokens as the gateway sees them: minted by preflight.tokens, verified with pinned algorithms,
remembered only while valid."""

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from preflight.cli import app
from preflight.targets import Target
from preflight.tokens import TokenConfigError, mint
from reference_services.gateway.entrypoints.authentication import TokenCache, build_verifier
from reference_services.platform.auth import (
    RateLimit,
    TokenError,
    issue_token,
    new_rs256_private_key,
    rs256_public_key,
)

SECRET = "unit-test-secret-of-enough-length-32b"


def rsa_pair() -> tuple[rsa.RSAPrivateKey, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


def segment(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_minted_token_carries_roles_plants_limit_and_a_fresh_subject() -> None:
    verifier = build_verifier(SECRET, {})
    first = verifier.verify(mint(SECRET, "planner", ["P1", "P2"], rate_limit=RateLimit(0.2, 3)))
    second = verifier.verify(mint(SECRET, "planner", "P1"))

    assert first.roles == {"planner"}
    assert first.plants == {"P1", "P2"}
    assert first.plant_scope == "P1,P2"
    assert first.rate_limit == RateLimit(0.2, 3)
    assert first.subject != second.subject


def test_minting_needs_a_key_a_known_role_and_a_plant() -> None:
    keyless = Target(name="preprod", services={"gateway": "https://gw.example"})
    with pytest.raises(TokenConfigError, match="no signing key"):
        mint(keyless, "admin")
    with pytest.raises(TokenConfigError, match="unknown role 'boss'"):
        mint(SECRET, ["planner", "boss"])
    with pytest.raises(TokenConfigError, match="at least one plant"):
        mint(SECRET, "planner", [])


def test_a_target_signs_with_its_signing_key() -> None:
    target = Target(name="embedded", services={}, signing_key=SECRET)

    identity = build_verifier(SECRET, {}).verify(mint(target, "admin", subject="ops"))

    assert (identity.subject, identity.plant_scope) == ("ops", "*")


def test_a_target_with_an_rs256_key_mints_rs256_tokens_under_its_kid() -> None:
    private = new_rs256_private_key()
    target = Target(
        name="idp", services={}, signing_key=SECRET, rs256_private_key=private, rs256_kid="idp-1"
    )
    verifier = build_verifier(SECRET, {"idp-1": rs256_public_key(private)})

    token = mint(target, "planner", "P1", subject="erp", algorithm="RS256")

    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": "idp-1", "typ": "JWT"}
    assert verifier.verify(token).subject == "erp"
    with pytest.raises(TokenConfigError, match="no RS256 key"):
        mint(Target(name="hs-only", services={}, signing_key=SECRET), "admin", algorithm="RS256")


def test_rs256_keys_verify_by_kid_and_cannot_be_used_as_hmac_secrets() -> None:
    private, public = rsa_pair()
    verifier = build_verifier(None, {"idp-1": public})
    claims = {"iss": "preflight", "aud": "plant-api", "sub": "erp", "roles": ["admin"]}
    claims |= {"plants": ["*"], "iat": int(time.time()), "exp": int(time.time()) + 60}

    signed = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "idp-1"})
    assert verifier.verify(signed).subject == "erp"

    signing_input = f"{segment({'alg': 'HS256', 'kid': 'idp-1'})}.{segment(claims)}"
    mac = hmac.new(public.encode(), signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(TokenError):
        verifier.verify(confused)


def test_alg_none_is_refused() -> None:
    claims = {"iss": "preflight", "aud": "plant-api", "sub": "x", "roles": ["admin"]}
    claims |= {"plants": ["*"], "iat": int(time.time()), "exp": int(time.time()) + 60}
    unsigned = f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims)}."

    with pytest.raises(TokenError):
        build_verifier(SECRET, {}).verify(unsigned)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_the_cache_remembers_a_valid_token_until_its_expiry_then_verifies_it_again() -> None:
    clock = Clock()
    cache = TokenCache(build_verifier(SECRET, {}), size=8, clock=clock)
    token = mint(SECRET, "operator", "P1", ttl_s=60)

    remembered = cache.identity(token)
    assert cache.identity(token) is remembered
    clock.now += 61
    assert cache.identity(token) is not remembered


def test_an_expired_token_is_refused_as_expired() -> None:
    expired = mint(SECRET, "operator", "P1", ttl_s=60, now=time.time() - 120)

    with pytest.raises(TokenError, match="expired"):
        TokenCache(build_verifier(SECRET, {}), size=8).identity(expired)


def test_the_cache_forgets_the_least_recently_used_and_never_stores_a_bad_token() -> None:
    cache = TokenCache(build_verifier(SECRET, {}), size=2)
    first, second, third = (mint(SECRET, "operator", "P1") for _ in range(3))
    remembered = {token: cache.identity(token) for token in (first, second)}
    cache.identity(first)
    remembered[third] = cache.identity(third)  # the cache is full: `second` goes

    with pytest.raises(TokenError):
        cache.identity(first[:-4] + "AAAA")
    assert cache.identity(first) is remembered[first]
    assert cache.identity(third) is remembered[third]
    assert cache.identity(second) is not remembered[second]


def test_preflight_token_needs_a_running_stack_or_a_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFLIGHT_STATE_DIR", str(tmp_path / "no-stack"))

    result = CliRunner().invoke(app, ["token", "--role", "planner", "--plant", "P1"])

    assert result.exit_code == 2
    assert "no embedded stack is running" in result.output


def test_preflight_token_signs_with_the_profiles_key(tmp_path: Path) -> None:
    profile = tmp_path / "preprod.toml"
    profile.write_text(
        '[services]\ngateway = "https://gw.example"\n[auth]\nsigning_key = "' + SECRET + '"\n'
    )

    arguments = ["token", "-r", "planner", "-p", "P1", "-p", "P2", "--subject", "ann"]

    result = CliRunner().invoke(app, [*arguments, "--ttl", "60", "--target", str(profile)])

    assert result.exit_code == 0, result.output
    identity = build_verifier(SECRET, {}).verify(result.output.strip())
    assert (identity.subject, identity.plant_scope, identity.roles) == ("ann", "P1,P2", {"planner"})


@pytest.mark.parametrize("plant", ["P1,P2", "P1\r\nX-Evil: 1", "", " P1"])
def test_a_token_whose_plants_are_not_plant_codes_is_refused(plant: str) -> None:
    token = issue_token(SECRET, subject="odd", roles=["operator"], plants=[plant])

    with pytest.raises(TokenError, match="plant codes"):
        TokenCache(build_verifier(SECRET, {}), size=8).identity(token)
