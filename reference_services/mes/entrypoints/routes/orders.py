"""The production order API."""

from datetime import date
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query
from starlette.responses import Response

from reference_services.mes.adapters.orders_repository import (
    SORTS,
    InvalidCursor,
    OrderFilter,
    list_orders,
    load_order,
)
from reference_services.mes.domain.model import Action, OrderStatus
from reference_services.mes.entrypoints.deps import (
    IdempotencyKey,
    MinLsn,
    Res,
    idempotent_write,
    json_response,
    parse_id,
    replayed,
    written,
)
from reference_services.mes.entrypoints.schemas import (
    OrderCreate,
    OrderPage,
    OrderPublic,
    OrderUpdate,
    Problem,
)
from reference_services.mes.service_layer import orders as use_cases
from reference_services.platform import idempotency
from reference_services.platform.problems import Problem as ProblemError
from reference_services.platform.problems import not_found

router = APIRouter(prefix="/orders", tags=["orders"])

PROBLEMS = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (404, 409, 412, 422)
}

SortParam = Annotated[
    str,
    Query(description="One of " + ", ".join(SORTS), pattern="^-?(created_at|due_date|priority)$"),
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
    "", status_code=201, response_model=OrderPublic, responses={k: PROBLEMS[k] for k in (409, 422)}
)
async def create_order(
    body: OrderCreate, res: Res, idempotency_key: IdempotencyKey = None
) -> Response:
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
        ],
    )
    fingerprint = idempotency.request_fingerprint(body.model_dump(mode="json"))
    outcome = await idempotent_write(
        res,
        idempotency_key,
        "POST /orders",
        fingerprint,
        lambda claim: use_cases.create_order(res.db, command, claim),
    )
    if isinstance(outcome, idempotency.StoredResponse):
        return await replayed(res, outcome)
    return written(outcome, 201, {"Location": f"/orders/{outcome.body['id']}"})


@router.get("", response_model=OrderPage, responses={422: PROBLEMS[422]})
async def get_orders(
    res: Res,
    lsn: MinLsn,
    status: Annotated[list[OrderStatus] | None, Query()] = None,
    plant: str | None = None,
    work_center: str | None = None,
    due_before: date | None = None,
    sort: SortParam = "created_at",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    where = OrderFilter(
        status=status or (), plant=plant, work_center=work_center, due_before=due_before
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


@router.get("/{order_id}", response_model=OrderPublic, responses={404: PROBLEMS[404]})
async def get_order(order_id: str, res: Res, lsn: MinLsn) -> Response:
    oid = parse_id(order_id, "order")
    cached = await res.cache.get(f"order:{oid}", lsn)
    if cached is not None:
        return json_response(cached, headers={"X-Cache": "hit"})
    async with res.db.read(lsn, track_lsn=True) as read:
        order = await load_order(read.conn, oid)
    if order is None:
        raise not_found(f"order {oid}")
    body = orjson.dumps(use_cases.present(order))
    if read.as_of_lsn is not None:
        await res.cache.put(f"order:{oid}", read.as_of_lsn, body)
    return json_response(body, headers={"X-Cache": "miss"})


@router.patch(
    "/{order_id}", response_model=OrderPublic, responses={k: PROBLEMS[k] for k in (404, 412, 422)}
)
async def update_order(
    order_id: str, body: OrderUpdate, res: Res, if_match: Annotated[str | None, Header()] = None
) -> Response:
    oid = parse_id(order_id, "order")
    outcome = await use_cases.change_order(
        res.db,
        oid,
        priority=body.priority,
        due_date=body.due_date,
        expected_version=_if_match(if_match),
    )
    await res.cache.invalidate(f"order:{oid}", outcome.commit_lsn)
    return written(outcome, 200)


def _transition(action: Action) -> None:
    async def transition(
        order_id: str,
        res: Res,
        idempotency_key: IdempotencyKey = None,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        oid = parse_id(order_id, "order")
        expected = _if_match(if_match)
        outcome = await idempotent_write(
            res,
            idempotency_key,
            f"POST /orders/{oid}/{action.value}",
            idempotency.request_fingerprint(str(oid), action.value, expected),
            lambda claim: use_cases.change_order(
                res.db, oid, action=action, expected_version=expected, claim=claim
            ),
        )
        if isinstance(outcome, idempotency.StoredResponse):
            return await replayed(res, outcome)
        await res.cache.invalidate(f"order:{oid}", outcome.commit_lsn)
        return written(outcome, 200)

    router.add_api_route(
        f"/{{order_id}}/{action.value}",
        transition,
        methods=["POST"],
        name=f"{action.value}_order",
        summary=f"{action.value.capitalize()} an order",
        response_model=OrderPublic,
        responses={k: PROBLEMS[k] for k in (404, 409, 412, 422)},
    )


for _action in Action:
    _transition(_action)
