"""Customers: who orders, from which plant, and whom to talk to there."""

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from reference_services.crm.adapters.customers_repository import list_customers, load_customer
from reference_services.crm.domain.model import Contact
from reference_services.crm.entrypoints.schemas import (
    CustomerCreate,
    CustomerPage,
    CustomerPublic,
    PlantCode,
    Problem,
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

router = APIRouter(prefix="/customers", tags=["customers"])

PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}


@router.post(
    "", status_code=201, response_model=CustomerPublic, responses={404: PROBLEM, 422: PROBLEM}
)
async def create_customer(
    body: CustomerCreate, res: Res, scope: Scope, idempotency_key: IdempotencyKey = None
) -> Response:
    command = use_cases.CreateCustomer(
        name=body.name,
        email=body.email,
        plant=body.plant,
        contacts=[Contact(c.name, c.email, c.phone) for c in body.contacts],
    )
    outcome = await idempotent_write(
        res,
        idempotency_key,
        "POST /customers",
        idempotency.request_fingerprint(body.model_dump(mode="json"), use_cases.scope_key(scope)),
        lambda claim: use_cases.create_customer(res.db, command, claim, scope),
    )
    if isinstance(outcome, idempotency.StoredResponse):
        return await replayed(res, outcome)
    return written(outcome, 201, {"Location": f"/customers/{outcome.body['id']}"})


@router.get("", response_model=CustomerPage, responses={422: PROBLEM})
async def get_customers(
    res: Res,
    lsn: MinLsn,
    scope: Scope,
    plant: Annotated[PlantCode | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    try:
        async with res.db.read(lsn) as read:
            page = await list_customers(
                read.conn, plant=plant, plants=scope, limit=limit, cursor=cursor
            )
    except InvalidCursor as exc:
        raise ProblemError(
            422, "validation-error", "Request validation failed", f"cursor: {exc}"
        ) from None
    return json_response(
        {
            "items": [use_cases.present_customer(c) for c in page.items],
            "next_cursor": page.next_cursor,
        }
    )


@router.get("/{customer_id}", response_model=CustomerPublic, responses={404: PROBLEM})
async def get_customer(customer_id: str, res: Res, lsn: MinLsn, scope: Scope) -> Response:
    cid = parse_id(customer_id, "customer")
    async with res.db.read(lsn) as read:
        customer = await load_customer(read.conn, cid)
    if customer is None or not use_cases.visible(scope, customer.plant):
        raise not_found(f"customer {cid}")
    return json_response(use_cases.present_customer(customer))
