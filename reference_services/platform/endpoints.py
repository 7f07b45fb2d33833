"""Request plumbing the services' endpoints share: read-your-writes and plant-scope headers,
idempotent writes, JSON responses carrying the commit LSN."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header
from starlette.responses import Response

from reference_services.platform import idempotency
from reference_services.platform.db import format_lsn, parse_lsn
from reference_services.platform.outcome import Outcome
from reference_services.platform.problems import Problem, not_found
from reference_services.platform.service_app import Resources, resources

COMMIT_LSN = "X-Commit-LSN"

Res = Annotated[Resources, Depends(resources)]


async def min_lsn(
    x_min_lsn: Annotated[
        str | None, Header(description="Read at least this commit (from X-Commit-LSN)")
    ] = None,
) -> int | None:
    if x_min_lsn is None:
        return None
    try:
        return parse_lsn(x_min_lsn)
    except ValueError:
        raise Problem(
            422,
            "validation-error",
            "Request validation failed",
            "X-Min-LSN is not an LSN like 0/16B3748",
        ) from None


MinLsn = Annotated[int | None, Depends(min_lsn)]


async def plant_scope(
    x_plant_scope: Annotated[
        str | None,
        Header(description="Plants the caller may see, comma-separated or *; set by the gateway"),
    ] = None,
) -> frozenset[str] | None:
    if x_plant_scope is None or x_plant_scope.strip() == "*":
        return None
    return frozenset(p.strip() for p in x_plant_scope.split(",") if p.strip())


Scope = Annotated[frozenset[str] | None, Depends(plant_scope)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=255,
        description="Repeat a write safely: same key and body, same response",
    ),
]


def parse_id(raw: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found(f"{what} {raw}") from None


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(raw, status_code=status, media_type="application/json", headers=headers)


def written(outcome: Outcome, status: int, headers: dict[str, str] | None = None) -> Response:
    return json_response(
        outcome.body, status, {COMMIT_LSN: format_lsn(outcome.commit_lsn), **(headers or {})}
    )


async def idempotent_write(
    res: Resources,
    key: str | None,
    scope: str,
    fingerprint: str,
    run: Callable[[idempotency.Claim | None], Awaitable[Outcome]],
) -> Outcome | idempotency.StoredResponse:
    if key is None:
        return await run(None)
    claimed = await idempotency.claim(res.db.primary, scope, key, fingerprint)
    if isinstance(claimed, idempotency.StoredResponse):
        return claimed
    try:
        return await run(claimed)
    except BaseException:
        await asyncio.shield(idempotency.release(res.db.primary, claimed))
        raise


async def replayed(res: Resources, stored: idempotency.StoredResponse) -> Response:
    lsn = await res.db.current_lsn()
    return json_response(
        stored.body, stored.status, {COMMIT_LSN: format_lsn(lsn), "Idempotent-Replayed": "true"}
    )
