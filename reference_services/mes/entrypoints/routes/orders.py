"""The production order API."""

import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from starlette.responses import Response

from reference_services.mes.adapters.orders_repository import (
    SORTS,
    OrderFilter,
    ProductRoutings,
    list_orders,
    load_order_driver,
)
from reference_services.mes.domain.model import Action, OperationAction, OrderStatus
from reference_services.mes.entrypoints.queue_cache import order_changed
from reference_services.mes.entrypoints.schemas import (
    OrderCreate,
    OrderPage,
    OrderPublic,
    OrderUpdate,
    Problem,
)
from reference_services.mes.service_layer import orders as use_cases
from reference_services.platform import idempotency
from reference_services.platform.endpoints import (
    IdempotencyKey,
    MinLsn,
    Res,
    Scope,
    documented_headers,
    header_values,
    idempotent_write,
    json_response,
    parse_id,
    parse_min_lsn,
    parse_plant_scope,
    replayed,
    written,
)
from reference_services.platform.keyset import InvalidCursor
from reference_services.platform.problems import Problem as ProblemError
from reference_services.platform.problems import not_found
from reference_services.platform.service_app import Resources

router = APIRouter(prefix="/orders", tags=["orders"])

ROUTINGS = ProductRoutings()
"""Routings this process has read; products never change, so it is shared by every request."""

PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (404, 409, 412, 422)
}


def _operation_id(name: str, path: str, method: str) -> str:
    """The operationId FastAPI gives a route (fastapi.routing.generate_unique_id)."""
    return re.sub(r"\W", "_", f"{name}/orders{path}") + f"_{method}"


def _order_links(*actions: Action) -> dict[str, Any]:
    """OpenAPI links from a response holding an order to what one can do with it next: read it,
    and the lifecycle `actions` (Schemathesis follows them in stateful runs: create -> get ->
    release -> start -> complete), each sending the version read as If-Match."""
    order_id = {"order_id": "$response.body#/id"}
    links: dict[str, Any] = {
        "GetOrder": {
            "operationId": _operation_id("get_order", "/{order_id}", "get"),
            "parameters": order_id,
        }
    }
    for action in actions:
        links[f"{action.value.capitalize()}Order"] = {
            "operationId": _operation_id(
                f"{action.value}_order", f"/{{order_id}}/{action}", "post"
            ),
            "parameters": order_id | {"header.if-match": "$response.body#/version"},
        }
    return links


NEXT_ACTIONS: dict[str, tuple[Action, ...]] = {
    "create": (Action.RELEASE, Action.HOLD, Action.CANCEL),
    Action.RELEASE: (Action.START, Action.HOLD, Action.CANCEL),
    Action.START: (Action.COMPLETE, Action.HOLD),
    Action.HOLD: (Action.RESUME, Action.CANCEL),
    Action.RESUME: (Action.START, Action.COMPLETE),
    Action.COMPLETE: (),
    Action.CANCEL: (),
}
"""Where each transition (and creation) leads, for the links; the domain still decides (409)."""


def _responses(
    success: int, actions: tuple[Action, ...], *problems: int
) -> dict[int | str, dict[str, Any]]:
    """The success response's links (to `actions`) and these problem responses."""
    documented: dict[int | str, dict[str, Any]] = {success: {"links": _order_links(*actions)}}
    return documented | {code: PROBLEMS[code] for code in problems}


SortParam = Annotated[
    str,
    Query(
        description="One of " + ", ".join(SORTS),
        pattern="^-?(created_at|updated_at|due_date|priority)$",
    ),
]


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise ProblemError(
            422,
            "validation-error",
            "Request validation failed",
            'If-Match must be a version like "3"',
        ) from None


@router.post(
    "",
    status_code=201,
    response_model=OrderPublic,
    responses=_responses(201, NEXT_ACTIONS["create"], 404, 409, 422),
    openapi_extra=documented_headers("x-plant-scope"),
)
async def create_order(
    body: OrderCreate, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    res: Resources = request.app.state.resources
    scope = parse_plant_scope(*header_values(request, b"x-plant-scope"))
    return await created_order(res, body, idempotency_key, scope)


async def created_order(
    res: Resources, body: OrderCreate, idempotency_key: str | None, scope: frozenset[str] | None
) -> Response:
    """What POST /orders answers once its body and headers are valid (the route, and the
    intake layer in order_intake.py, call it)."""
    command = use_cases.CreateOrder(
        order_ref=body.order_ref,
        customer_ref=body.customer_ref,
        sku=body.sku,
        quantity=body.quantity,
        due_date=body.due_date,
        plant=body.plant,
        priority=body.priority,
        operations=[
            use_cases.NewOperation(op.work_center, op.description, op.planned_minutes)
            for op in body.operations
        ]
        if body.operations
        else None,
    )
    if idempotency_key is None:
        outcome = await use_cases.create_order(res.db, command, None, scope, ROUTINGS)
        await order_changed(res.cache, outcome)
        return written(outcome, 201, {"Location": f"/orders/{outcome.body['id']}"})
    written_or_stored = await idempotent_write(
        res,
        idempotency_key,
        "POST /orders",
        idempotency.request_fingerprint(body.model_dump(mode="json")),
        lambda claim: use_cases.create_order(res.db, command, claim, scope, ROUTINGS),
    )
    if isinstance(written_or_stored, idempotency.StoredResponse):
        stored = written_or_stored
        created = stored.status == 201 and isinstance(stored.body, dict)
        location = {"Location": f"/orders/{stored.body['id']}"} if created else None
        return await replayed(res, stored, location)
    await order_changed(res.cache, written_or_stored)
    return written(written_or_stored, 201, {"Location": f"/orders/{written_or_stored.body['id']}"})


@router.get("", response_model=OrderPage, responses={422: PROBLEMS[422]})
async def get_orders(
    res: Res,
    lsn: MinLsn,
    scope: Scope,
    status: Annotated[list[OrderStatus] | None, Query()] = None,
    plant: str | None = None,
    work_center: str | None = None,
    due_before: date | None = None,
    updated_since: Annotated[datetime | None, Query(description="Changed at or after")] = None,
    sort: SortParam = "created_at",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    if updated_since is not None and updated_since.tzinfo is None:
        updated_since = updated_since.replace(tzinfo=UTC)
    where = OrderFilter(
        status=status or (),
        plant=plant,
        work_center=work_center,
        due_before=due_before,
        updated_since=updated_since,
        plants=scope,
    )
    try:
        async with res.db.read(lsn) as read:
            page = await list_orders(read.conn, where, sort, limit, cursor)
    except InvalidCursor as exc:
        raise ProblemError(
            422, "validation-error", "Request validation failed", f"cursor: {exc}"
        ) from None
    return json_response(
        {"items": [use_cases.present(o) for o in page.items], "next_cursor": page.next_cursor}
    )


@router.get(
    "/{order_id}",
    response_model=OrderPublic,
    responses={404: PROBLEMS[404]},
    openapi_extra=documented_headers("x-min-lsn", "x-plant-scope"),
)
async def get_order(order_id: str, request: Request) -> Response:
    # The hottest read: no dependencies for FastAPI to solve; the headers are read here.
    res: Resources = request.app.state.resources
    x_min_lsn, x_plant_scope = header_values(request, b"x-min-lsn", b"x-plant-scope")
    oid = parse_id(order_id, "order")
    lsn = parse_min_lsn(x_min_lsn)
    scope = parse_plant_scope(x_plant_scope)
    cached = await res.cache.lookup(f"order:{oid}", lsn)
    if cached.body is not None:
        if scope is not None:
            use_cases.check_plant(scope, orjson.loads(cached.body)["plant"], f"order {oid}")
        return json_response(cached.body, headers=_CACHE_HIT)
    # Read at or past the last change the cache knows of (its tombstone): every reader sees an
    # acknowledged change, and what it read can be cached (an older read would be refused).
    floor = max(lsn or 0, cached.lsn) or None
    async with res.db.driver_read(floor, track_lsn=True) as read:
        order = await load_order_driver(read.conn, oid)
    if order is None:
        raise not_found(f"order {oid}")
    body = orjson.dumps(use_cases.present(order))
    if read.as_of_lsn is not None:
        await res.cache.put(f"order:{oid}", read.as_of_lsn, body)
    use_cases.check_plant(scope, order.plant, f"order {oid}")
    return json_response(body, headers=_CACHE_MISS)


_CACHE_HIT = {"X-Cache": "hit"}
_CACHE_MISS = {"X-Cache": "miss"}


@router.patch(
    "/{order_id}", response_model=OrderPublic, responses={k: PROBLEMS[k] for k in (404, 412, 422)}
)
async def update_order(
    order_id: str,
    body: OrderUpdate,
    res: Res,
    scope: Scope,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    oid = parse_id(order_id, "order")
    outcome = await use_cases.change_order(
        res.db,
        oid,
        priority=body.priority,
        due_date=body.due_date,
        expected_version=_if_match(if_match),
        scope=scope,
    )
    await order_changed(res.cache, outcome)
    return written(outcome, 200)


async def _change(
    res: Res,
    oid: uuid.UUID,
    idempotency_key: str | None,
    if_match: str | None,
    scope: frozenset[str] | None,
    step: str,
    **change: Any,
) -> Response:
    expected = _if_match(if_match)
    outcome = await idempotent_write(
        res,
        idempotency_key,
        f"POST /orders/{oid}/{step}",
        idempotency.request_fingerprint(str(oid), step, expected),
        lambda claim: use_cases.change_order(
            res.db, oid, expected_version=expected, claim=claim, scope=scope, **change
        ),
    )
    if isinstance(outcome, idempotency.StoredResponse):
        return await replayed(res, outcome)
    await order_changed(res.cache, outcome)
    return written(outcome, 200)


IfMatch = Annotated[str | None, Header(description='Expected version, e.g. "3"')]


def _order_route(action: Action) -> None:
    async def transition(
        order_id: str,
        res: Res,
        scope: Scope,
        idempotency_key: IdempotencyKey = None,
        if_match: IfMatch = None,
    ) -> Response:
        oid = parse_id(order_id, "order")
        return await _change(
            res, oid, idempotency_key, if_match, scope, action.value, action=action
        )

    router.add_api_route(
        f"/{{order_id}}/{action.value}",
        transition,
        methods=["POST"],
        name=f"{action.value}_order",
        summary=f"{action.value.capitalize()} an order",
        response_model=OrderPublic,
        responses=_responses(200, NEXT_ACTIONS[action], 404, 409, 412, 422),
    )


def _operation_route(step: OperationAction) -> None:
    async def operation(
        order_id: str,
        seq: Annotated[int, Path(ge=1, le=50)],
        res: Res,
        scope: Scope,
        idempotency_key: IdempotencyKey = None,
        if_match: IfMatch = None,
    ) -> Response:
        oid = parse_id(order_id, "order")
        return await _change(
            res,
            oid,
            idempotency_key,
            if_match,
            scope,
            f"operations/{seq}/{step.value}",
            operation=(seq, step),
        )

    router.add_api_route(
        f"/{{order_id}}/operations/{{seq}}/{step.value}",
        operation,
        methods=["POST"],
        name=f"{step.value}_operation",
        summary=f"{step.value.capitalize()} an operation of an order",
        response_model=OrderPublic,
        responses={k: PROBLEMS[k] for k in (404, 409, 412, 422)},
    )


for _action in Action:
    _order_route(_action)
for _step in OperationAction:
    _operation_route(_step)
