"""/webhooks: subscriptions (create, list, read, delete) and each one's delivery log."""

import base64
import uuid
from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from reference_services.notification.adapters import deliveries, subscription_store
from reference_services.notification.adapters.address_resolution import RefusedUrl, check_url
from reference_services.notification.domain.rules import valid_pattern
from reference_services.notification.entrypoints.schemas import (
    PROBLEMS,
    DeliveryPage,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionPublic,
)
from reference_services.notification.service_layer.catalogue import subscribable_types
from reference_services.platform import idempotency
from reference_services.platform.endpoints import (
    IdempotencyKey,
    MinLsn,
    Res,
    idempotent_write,
    json_response,
    parse_id,
    replayed,
    written,
)
from reference_services.platform.outcome import Outcome
from reference_services.platform.problems import Problem, not_found

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def _public(row: dict[str, object]) -> dict[str, object]:
    shown = {k: v for k, v in row.items() if k not in ("event_types", "active", "secret")}
    return (
        shown
        | {"events": row["event_types"]}
        | ({"secret": row["secret"]} if "secret" in row else {})
    )


def _invalid(detail: str) -> Problem:
    return Problem(422, "validation-error", "Request validation failed", detail)


@router.post(
    "",
    status_code=201,
    response_model=SubscriptionCreated,
    responses={422: PROBLEMS[422]},
)
async def create_subscription(
    body: SubscriptionCreate, request: Request, res: Res, idempotency_key: IdempotencyKey = None
) -> Response:
    """Subscribe a URL to event types. Its host must resolve to public addresses only, unless
    the service's allowlist admits it. The answer holds the signing secret, once."""
    known = subscribable_types()
    unknown = [p for p in body.events if not valid_pattern(p, known)]
    if unknown:
        raise _invalid(f"events: no event type matches {', '.join(unknown)}")
    try:
        await check_url(body.url, request.app.state.allowlist)
    except RefusedUrl as refused:
        raise Problem(
            422, "callback-url-refused", "Callback URL refused", f"url: {refused}"
        ) from None

    async def run(claim: idempotency.Claim | None) -> Outcome:
        async with res.db.write() as write:
            created = _public(
                await subscription_store.create(
                    write.conn, body.url, sorted(set(body.events)), body.plant, body.description
                )
            )
            document = orjson.loads(orjson.dumps(created, default=str))
            if claim is not None:
                await idempotency.complete(write.conn, claim, 201, document)
        return Outcome(document, write.commit_lsn)

    outcome = await idempotent_write(
        res,
        idempotency_key,
        "POST /webhooks",
        idempotency.request_fingerprint(body.model_dump(mode="json")),
        run,
    )
    if isinstance(outcome, idempotency.StoredResponse):
        return await replayed(res, outcome)
    return written(outcome, 201, {"Location": f"/webhooks/{outcome.body['id']}"})


@router.get("", response_model=SubscriptionList)
async def list_subscriptions(res: Res, lsn: MinLsn) -> Response:
    async with res.db.read(lsn) as read:
        rows = await subscription_store.listed(read.conn)
    return json_response({"items": [_public(row) for row in rows]})


@router.get("/{subscription_id}", response_model=SubscriptionPublic, responses={404: PROBLEMS[404]})
async def get_subscription(subscription_id: str, res: Res, lsn: MinLsn) -> Response:
    sid = parse_id(subscription_id, "subscription")
    async with res.db.read(lsn) as read:
        row = await subscription_store.one(read.conn, sid)
    if row is None:
        raise not_found(f"subscription {sid}")
    return json_response(_public(row))


@router.delete("/{subscription_id}", status_code=204, responses={404: PROBLEMS[404]})
async def delete_subscription(subscription_id: str, res: Res) -> Response:
    """Stop the subscription: nothing more is sent; its delivery log stays readable."""
    sid = parse_id(subscription_id, "subscription")
    async with res.db.write() as write:
        stopped = await subscription_store.deactivate(write.conn, sid)
    if not stopped:
        raise not_found(f"subscription {sid} (or it is managed by the service)")
    return Response(status_code=204)


@router.get(
    "/{subscription_id}/deliveries",
    response_model=DeliveryPage,
    responses={404: PROBLEMS[404], 422: PROBLEMS[422]},
)
async def list_deliveries(
    subscription_id: str,
    res: Res,
    lsn: MinLsn,
    event_id: Annotated[uuid.UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The delivery log: each delivery of the subscription, oldest first, with its attempts."""
    sid = parse_id(subscription_id, "subscription")
    after = _decode_cursor(cursor) if cursor else None
    async with res.db.read(lsn) as read:
        if await subscription_store.one(read.conn, sid) is None:
            raise not_found(f"subscription {sid}")
        items = await deliveries.delivery_log(
            read.conn, sid, event_id=event_id, after=after, limit=limit
        )
    last = items[-1] if len(items) == limit else None
    return json_response(
        {"items": items, "next_cursor": _encode_cursor(last) if last is not None else None}
    )


def _encode_cursor(item: dict[str, object]) -> str:
    created = item["created_at"]
    assert isinstance(created, datetime)
    raw = f"{created.isoformat()}|{item['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, delivery_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), uuid.UUID(delivery_id)
    except ValueError:
        raise _invalid("cursor: not a cursor this API issued") from None
