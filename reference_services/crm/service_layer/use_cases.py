"""Use cases of the CRM API: each write runs in one unit of work and returns what the client sees.

A plant scope is the set of plants the caller may see (None: all of them). Whatever lies outside
it does not exist for the caller: reads answer 404, and a sales order for a customer outside it
names an unknown customer.
"""

import uuid
from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from reference_services.crm.domain.model import Contact, Customer, SalesOrder, new_sales_order
from reference_services.crm.service_layer.unit_of_work import UnitOfWork
from reference_services.platform import idempotency
from reference_services.platform.db import Database
from reference_services.platform.outcome import Outcome
from reference_services.platform.problems import Problem, not_found

PlantScope = Set[str] | None


@dataclass(frozen=True)
class CreateCustomer:
    name: str
    email: str
    plant: str
    contacts: list[Contact]


@dataclass(frozen=True)
class PlaceSalesOrder:
    customer_id: uuid.UUID
    sku: str
    quantity: int
    due_date: date
    priority: int


def visible(scope: PlantScope, plant: str) -> bool:
    return scope is None or plant in scope


def scope_key(scope: PlantScope) -> str:
    """The scope as part of an idempotent request: a key replays only to the same scope."""
    return "*" if scope is None else ",".join(sorted(scope))


def present_customer(customer: Customer) -> dict[str, Any]:
    return {
        "id": str(customer.id),
        "name": customer.name,
        "email": customer.email,
        "plant": customer.plant,
        "contacts": [
            {"name": c.name, "email": c.email, "phone": c.phone} for c in customer.contacts
        ],
        "created_at": customer.created_at.isoformat(),
    }


def present_sales_order(order: SalesOrder) -> dict[str, Any]:
    return {
        "id": str(order.id),
        "number": order.order_ref,
        "customer_id": str(order.customer_id),
        "plant": order.plant,
        "sku": order.sku,
        "quantity": order.quantity,
        "due_date": order.due_date.isoformat(),
        "priority": order.priority,
        "status": order.status.value,
        "reject_reason": order.reject_reason,
        "reject_type": order.reject_type,
        "mes_order_id": str(order.mes_order_id) if order.mes_order_id else None,
        "mes_status": order.mes_status.value if order.mes_status else None,
        "submit_attempts": order.submit_attempts,
        "completion_notified_at": (
            order.completion_notified_at.isoformat() if order.completion_notified_at else None
        ),
        "version": order.version,
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
    }


async def create_customer(
    db: Database, command: CreateCustomer, claim: idempotency.Claim | None, scope: PlantScope
) -> Outcome:
    if not visible(scope, command.plant):
        raise not_found(f"plant {command.plant}")
    customer = Customer(
        id=uuid.uuid4(),
        name=command.name,
        email=command.email,
        plant=command.plant,
        contacts=command.contacts,
    )
    async with UnitOfWork(db) as uow:
        await uow.customers.add(customer)
        body = present_customer(customer)
        if claim is not None:
            await idempotency.complete(uow.conn, claim, 201, body)
    return Outcome(body, uow.commit_lsn)


async def place_sales_order(
    db: Database, command: PlaceSalesOrder, claim: idempotency.Claim | None, scope: PlantScope
) -> Outcome:
    """Record the sales order and its pending submission to the MES in one transaction."""
    async with UnitOfWork(db) as uow:
        customer = await uow.customers.get(command.customer_id)
        if customer is None or not visible(scope, customer.plant):
            raise Problem(
                422,
                "unknown-customer",
                "Unknown customer",
                f"customer {command.customer_id} does not exist",
            )
        order = new_sales_order(
            number=await uow.sales_orders.next_number(),
            customer=customer,
            sku=command.sku,
            quantity=command.quantity,
            due_date=command.due_date,
            priority=command.priority,
            now=datetime.now(UTC),
        )
        await uow.sales_orders.add(order)
        body = present_sales_order(order)
        if claim is not None:
            await idempotency.complete(uow.conn, claim, 201, body)
    return Outcome(body, uow.commit_lsn)
