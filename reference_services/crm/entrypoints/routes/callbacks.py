"""POST /callbacks/mes-orders: signed callbacks from the notification service.

The body is the MES event (its envelope); the request is signed with the shared webhook secret
(reference_services.platform.webhook_signatures). A callback is recorded once per event id, shown
on the sales order as completion_notified_at, and makes the progress poller read the MES's feed
at once: the feed stays the source of the order's status, the callback only shortens the wait.
"""

import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Request
from prometheus_client import Counter
from starlette.responses import Response

from reference_services.crm.adapters import mes_callbacks
from reference_services.crm.entrypoints.schemas import Problem as ProblemModel
from reference_services.crm.settings import CrmSettings
from reference_services.platform.problems import Problem
from reference_services.platform.webhook_signatures import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    verify,
)

router = APIRouter(prefix="/callbacks", tags=["callbacks"])
PROBLEM: dict[str, Any] = {"model": ProblemModel, "content": {"application/problem+json": {}}}


@router.post("/mes-orders", status_code=204, responses={401: PROBLEM, 422: PROBLEM})
async def mes_order_callback(request: Request) -> Response:
    """Record a signed MES order event (order.completed) sent by the notification service."""
    settings: CrmSettings = request.app.state.resources.settings
    counter: Counter = request.app.state.callbacks_counter
    body = await request.body()
    try:
        if not settings.webhook_secret:
            raise SignatureError("the CRM has no webhook secret configured")
        verify(
            settings.webhook_secret,
            body,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
        )
    except SignatureError as error:
        counter.labels("rejected").inc()
        raise Problem(401, "invalid-signature", "Invalid webhook signature", str(error)) from None
    event_id, event_type, order_id = _parse(body)
    async with request.app.state.resources.db.write() as write:
        first = await mes_callbacks.record(
            write.conn, event_id, event_type, order_id, request.headers.get(ID_HEADER, "")
        )
    counter.labels("applied" if first else "duplicate").inc()
    if first:
        request.app.state.poller.wake()
    return Response(status_code=204)


def _parse(body: bytes) -> tuple[uuid.UUID, str, uuid.UUID]:
    try:
        document = orjson.loads(body)
        data = document["data"]
        return uuid.UUID(document["id"]), str(document["type"]), uuid.UUID(data["order_id"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise Problem(
            422,
            "validation-error",
            "Request validation failed",
            "the body is not an event envelope with id, type and data.order_id",
        ) from None
