"""Bearer tokens for the gateway, signed like the target's identity provider signs them.

The embedded stack's key is its JWT secret; a profile names one as [auth] signing_key (or
PREFLIGHT_SIGNING_KEY). `preflight token --role planner --plant P1` prints one for curl & co.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from preflight.targets import Target, TargetError, load_profile
from preflight.verdict import ExitCode
from reference_services.platform.auth import ALL_PLANTS, ROLES, RateLimit, issue_token


class TokenConfigError(Exception):
    """No key to sign with, or arguments no identity provider would issue a token for."""


def signing_key(target_or_secret: Target | str) -> str:
    if isinstance(target_or_secret, str):
        key = target_or_secret
    else:
        key = target_or_secret.signing_key or ""
        if not key:
            raise TokenConfigError(
                f"target {target_or_secret.name!r} has no signing key ([auth] signing_key or "
                "PREFLIGHT_SIGNING_KEY)"
            )
    if not key:
        raise TokenConfigError("the signing key is empty")
    return key


def rs256_key(target: Target) -> tuple[str, str]:
    """The target's RS256 private key (PEM) and the kid its gateway pins the public half under."""
    if not target.rs256_private_key or not target.rs256_kid:
        raise TokenConfigError(
            f"target {target.name!r} has no RS256 key ([auth] rs256_private_key and rs256_kid)"
        )
    return target.rs256_private_key, target.rs256_kid


def mint(
    target_or_secret: Target | str,
    roles: str | Iterable[str],
    plants: str | Iterable[str] = (ALL_PLANTS,),
    *,
    subject: str | None = None,
    ttl_s: int = 3600,
    rate_limit: RateLimit | None = None,
    kid: str | None = None,
    now: float | None = None,
    algorithm: Literal["HS256", "RS256"] = "HS256",
) -> str:
    """A token of these roles for these plants ("*": all). The subject (the rate-limit bucket)
    is new for every token unless given. RS256 signs with the target's private key, under its
    kid unless another is given."""
    role_list = [roles] if isinstance(roles, str) else list(roles)
    plant_list = [plants] if isinstance(plants, str) else list(plants)
    unknown = sorted(set(role_list) - set(ROLES))
    if not role_list or unknown:
        raise TokenConfigError(
            f"unknown role {unknown[0]!r}" if unknown else "a token needs at least one role"
        )
    if not plant_list:
        raise TokenConfigError("a token needs at least one plant (or all plants)")
    if algorithm == "HS256":
        key = signing_key(target_or_secret)
    elif isinstance(target_or_secret, str):
        raise TokenConfigError("RS256 tokens are signed with a target's private key")
    else:
        key, pinned_kid = rs256_key(target_or_secret)
        kid = kid or pinned_kid
    return issue_token(
        key,
        subject=subject or f"{'+'.join(sorted(role_list))}-{uuid.uuid4().hex[:12]}",
        roles=role_list,
        plants=plant_list,
        ttl_s=ttl_s,
        kid=kid,
        rate_limit=rate_limit,
        now=now,
        algorithm=algorithm,
    )


def _embedded_secret() -> str:
    from preflight import stack

    info = stack.status()
    if info is None or not info.jwt_secret:
        raise TokenConfigError(
            "no embedded stack is running: start one with `preflight stack up --keep`, "
            "or pass --target PROFILE"
        )
    return info.jwt_secret


def token_command(
    role: Annotated[
        list[str],
        typer.Option("--role", "-r", help=f"Role (repeatable): {', '.join(ROLES)}."),
    ],
    plant: Annotated[
        list[str] | None, typer.Option("--plant", "-p", help="Plant the token sees (repeatable).")
    ] = None,
    all_plants: Annotated[bool, typer.Option("--all-plants", help="Every plant ('*').")] = False,
    ttl: Annotated[int, typer.Option("--ttl", min=1, help="Lifetime in seconds.")] = 3600,
    subject: Annotated[
        str | None, typer.Option("--subject", help="Who the token names (default: a new id).")
    ] = None,
    target: Annotated[
        Path | None,
        typer.Option("--target", help="Profile TOML whose [auth] signing_key signs the token."),
    ] = None,
) -> None:
    """Print a bearer token for the gateway, signed with the running embedded stack's key
    (or a profile's): `curl -H "Authorization: Bearer $(preflight token -r planner -p P1)"`."""
    plants = [ALL_PLANTS] if all_plants else list(plant or [])
    try:
        key: Target | str = load_profile(target) if target is not None else _embedded_secret()
        token = mint(key, role, plants, subject=subject, ttl_s=ttl)
    except (TokenConfigError, TargetError) as error:
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]error:[/] {error}", markup=True, highlight=False
        )
        raise typer.Exit(ExitCode.USAGE) from None
    typer.echo(token)
