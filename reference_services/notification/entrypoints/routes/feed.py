"""/feed: the in-app feed of planner alerts, per user (X-User, set by the gateway from the
token), in the plants the user sees; and /rules, what raises a notification."""

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from starlette.responses import Response

from reference_services.notification.adapters import alert_store
from reference_services.notification.entrypoints.schemas import PROBLEMS, FeedPage, RuleList
from reference_services.notification.service_layer.catalogue import rules, subscribable_types
from reference_services.platform.endpoints import MinLsn, Res, Scope, json_response
from reference_services.platform.problems import Problem, not_found

router = APIRouter(tags=["feed"])

AlertNumber = Annotated[int, Path(ge=1, le=2**63 - 1, description="The alert's number (bigint)")]
"""An alert's number is a PostgreSQL bigint: a larger one is a 422, not a driver error (500)."""

User = Annotated[
    str | None,
    Header(max_length=200, description="Whose feed; the gateway sets it from the token"),
]


def _user(x_user: str | None) -> str:
    if not x_user:
        raise Problem(400, "user-required", "User required", "the X-User header names the reader")
    return x_user


@router.get("/feed", response_model=FeedPage, responses={400: PROBLEMS[400]})
async def read_feed(
    res: Res,
    lsn: MinLsn,
    scope: Scope,
    x_user: User = None,
    unread: Annotated[bool, Query(description="Only alerts this user has not read")] = False,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="next_before of the last page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """The user's alerts, newest first, each marked read or not for this user."""
    user = _user(x_user)
    async with res.db.read(lsn) as read:
        items, unread_count = await alert_store.feed(
            read.conn, user, scope, before=before, unread_only=unread, limit=limit
        )
    next_before = items[-1]["number"] if len(items) == limit else None
    return json_response({"items": items, "unread": unread_count, "next_before": next_before})


@router.post(
    "/feed/{number}/read", status_code=204, responses={400: PROBLEMS[400], 404: PROBLEMS[404]}
)
async def mark_read(number: AlertNumber, res: Res, scope: Scope, x_user: User = None) -> Response:
    """Mark one alert read for this user (other users' feeds are unchanged)."""
    user = _user(x_user)
    async with res.db.write() as write:
        found = await alert_store.mark_read(write.conn, user, number, scope)
    if not found:
        raise not_found(f"alert {number}")
    return Response(status_code=204)


@router.get("/rules", response_model=RuleList)
async def list_rules(request: Request) -> Response:
    """The rules in force, with their thresholds, and the event types webhooks can subscribe to."""
    return json_response(
        {
            "items": rules(request.app.state.resources.settings),
            "event_types": sorted(subscribable_types()),
        }
    )
