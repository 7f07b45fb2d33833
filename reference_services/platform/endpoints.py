"""Request plumbing the services' endpoints share: read-your-writes and plant-scope headers,
idempotent writes, JSON responses carrying the commit LSN."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request
from starlette.responses import Response

from reference_services.platform import idempotency
from reference_services.platform.db import format_lsn, parse_lsn
from reference_services.platform.outcome import Outcome
from reference_services.platform.problems import Problem, not_found
from reference_services.platform.service_app import Resources, resources

COMMIT_LSN = "X-Commit-LSN"

Res = Annotated[Resources, Depends(resources)]


MIN_LSN_DESCRIPTION = "Read at least this commit (from X-Commit-LSN)"
PLANT_SCOPE_DESCRIPTION = "Plants the caller may see, comma-separated or *; set by the gateway"

# The headers as plain parameters, for routes that parse them themselves (parse_min_lsn,
# parse_plant_scope) rather than through a dependency: the OpenAPI document is the same.
MinLsnHeader = Annotated[str | None, Header(description=MIN_LSN_DESCRIPTION)]
PlantScopeHeader = Annotated[str | None, Header(description=PLANT_SCOPE_DESCRIPTION)]


def header_values(request: Request, *names: bytes) -> list[str | None]:
    """The values of these headers (lowercase names), in one pass over the raw headers."""
    found: list[str | None] = [None] * len(names)
    for name, value in request.scope["headers"]:
        if name in names:
            found[names.index(name)] = value.decode("latin-1")
    return found


def _optional_header(name: str, title: str, description: str) -> dict[str, Any]:
    schema = {"anyOf": [{"type": "string"}, {"type": "null"}], "description": description}
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": schema | {"title": title},
        "description": description,
    }


def documented_headers(*names: str) -> dict[str, Any]:
    """`openapi_extra` for a hot route that reads these headers itself (request.headers) instead
    of declaring them: FastAPI validates nothing for them per request, and the OpenAPI document is
    what declared headers would have produced (they follow the declared parameters)."""
    return {"parameters": [_HEADERS[name] for name in names]}


_HEADERS = {
    "x-min-lsn": _optional_header("x-min-lsn", "X-Min-Lsn", MIN_LSN_DESCRIPTION),
    "x-plant-scope": _optional_header("x-plant-scope", "X-Plant-Scope", PLANT_SCOPE_DESCRIPTION),
}


def parse_min_lsn(x_min_lsn: str | None) -> int | None:
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


def parse_plant_scope(x_plant_scope: str | None) -> frozenset[str] | None:
    if x_plant_scope is None or x_plant_scope.strip() == "*":
        return None
    return frozenset(p.strip() for p in x_plant_scope.split(",") if p.strip())


async def min_lsn(x_min_lsn: MinLsnHeader = None) -> int | None:
    return parse_min_lsn(x_min_lsn)


MinLsn = Annotated[int | None, Depends(min_lsn)]


async def plant_scope(x_plant_scope: PlantScopeHeader = None) -> frozenset[str] | None:
    return parse_plant_scope(x_plant_scope)


Scope = Annotated[frozenset[str] | None, Depends(plant_scope)]
IDEMPOTENCY_KEY_LENGTH = (1, 255)
JSON = b"application/json"
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=IDEMPOTENCY_KEY_LENGTH[0],
        max_length=IDEMPOTENCY_KEY_LENGTH[1],
        description="Repeat a write safely: same key and body, same response",
    ),
]


def json_write_headers(
    raw_headers: Iterable[tuple[bytes, bytes]],
) -> tuple[str | None, str | None] | None:
    """The Idempotency-Key and X-Plant-Scope of a write whose headers its route takes as they
    are: its (first) Content-Type is application/json and its (first) Idempotency-Key, if any,
    is as long as `IdempotencyKey` allows. None otherwise (let the route explain or decide)."""
    content_type = key = plants = None
    for name, value in raw_headers:
        if name == b"content-type":
            content_type = value if content_type is None else content_type
        elif name == b"idempotency-key":
            key = value.decode("latin-1") if key is None else key
        elif name == b"x-plant-scope":
            plants = value.decode("latin-1")
    if content_type is None or content_type.partition(b";")[0].strip().lower() != JSON:
        return None
    if key is not None and not IDEMPOTENCY_KEY_LENGTH[0] <= len(key) <= IDEMPOTENCY_KEY_LENGTH[1]:
        return None
    return key, plants


def parse_id(raw: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found(f"{what} {raw}") from None


def _json_default(value: object) -> object:
    if isinstance(value, uuid.UUID):  # asyncpg's own UUID type subclasses it; orjson wants exact
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body, default=_json_default)
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
    claimed = await idempotency.claim(res.db, scope, key, fingerprint)
    if isinstance(claimed, idempotency.StoredResponse):
        return claimed
    try:
        return await run(claimed)
    except BaseException:
        await asyncio.shield(idempotency.release(res.db, claimed))
        raise


async def replayed(
    res: Resources, stored: idempotency.StoredResponse, headers: dict[str, str] | None = None
) -> Response:
    """The stored answer again; `headers` are those the first answer derived from its body
    (a create's Location), so that a replay answers like the original."""
    lsn = await res.db.current_lsn()
    return json_response(
        stored.body,
        stored.status,
        {COMMIT_LSN: format_lsn(lsn), "Idempotent-Replayed": "true", **(headers or {})},
    )
