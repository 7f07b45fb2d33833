"""Sales orders: placed by customers, submitted to the MES, followed through production."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from reference_services.crm.adapters.sales_orders_repository import (
    SalesOrderFilter,
    list_sales_orders,
    load_sales_order,
)
from reference_services.crm.domain.model import SalesOrderStatus
from reference_services.crm.entrypoints.deps import SubmitterDep
from reference_services.crm.entrypoints.schemas import (
    Problem,
    SalesOrderCreate,
    SalesOrderPage,
    SalesOrderPublic,
)
from reference_services.crm.service_layer import use_cases
from reference_services.platform import idempotency
from reference_services.platform.endpoints import (
    IdempotencyKey,
    MinLsn,
    Res,
    Scope,
    idempotent_write,
    json_response,
    parse_id,
    replayed,
    written,
)
from reference_services.platform.keyset import InvalidCursor
from reference_services.platform.problems import Problem as ProblemError
from reference_services.platform.problems import not_found

router = APIRouter(prefix="/sales-orders", tags=["sales orders"])

PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}


@router.post("", status_code=201, response_model=SalesOrderPublic, responses={422: PROBLEM})
async def place_sales_order(
    body: SalesOrderCreate,
    res: Res,
    scope: Scope,
    submitter: SubmitterDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record the order; it is submitted to the MES in the background (status `submitted`)."""
    command = use_cases.PlaceSalesOrder(
        customer_id=body.customer_id,
        sku=body.sku,
        quantity=body.quantity,
        due_date=body.due_date,
        priority=body.priority,
    )
    outcome = await idempotent_write(
        res,
        idempotency_key,
        "POST /sales-orders",
        idempotency.request_fingerprint(body.model_dump(mode="json"), use_cases.scope_key(scope)),
        lambda claim: use_cases.place_sales_order(res.db, command, claim, scope),
    )
    if isinstance(outcome, idempotency.StoredResponse):
        return await replayed(res, outcome)
    submitter.wake()
    return written(outcome, 201, {"Location": f"/sales-orders/{outcome.body['id']}"})


@router.get("", response_model=SalesOrderPage, responses={422: PROBLEM})
async def get_sales_orders(
    res: Res,
    lsn: MinLsn,
    scope: Scope,
    customer_id: uuid.UUID | None = None,
    status: Annotated[list[SalesOrderStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    where = SalesOrderFilter(customer_id=customer_id, status=status or (), plants=scope)
    try:
        async with res.db.read(lsn) as read:
            page = await list_sales_orders(read.conn, where, limit, cursor)
    except InvalidCursor as exc:
        raise ProblemError(
            422, "validation-error", "Request validation failed", f"cursor: {exc}"
        ) from None
    return json_response(
        {
            "items": [use_cases.present_sales_order(o) for o in page.items],
            "next_cursor": page.next_cursor,
        }
    )


@router.get("/{sales_order_id}", response_model=SalesOrderPublic, responses={404: PROBLEM})
async def get_sales_order(sales_order_id: str, res: Res, lsn: MinLsn, scope: Scope) -> Response:
    oid = parse_id(sales_order_id, "sales order")
    async with res.db.read(lsn) as read:
        order = await load_sales_order(read.conn, oid)
    if order is None or not use_cases.visible(scope, order.plant):
        raise not_found(f"sales order {oid}")
    return json_response(use_cases.present_sales_order(order))
