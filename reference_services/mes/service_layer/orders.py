"""Use cases of the order API: each runs in one unit of work and returns what the client sees."""

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from reference_services.mes.adapters import orders_repository
from reference_services.mes.adapters.orders_repository import (
    MissingReference,
    OrderRepository,
    ProductRoutings,
    product_routing,
)
from reference_services.mes.domain.model import Action, OperationAction, ProductionOrder, new_order
from reference_services.mes.service_layer import order_metrics
from reference_services.mes.service_layer.unit_of_work import UnitOfWork, order_events
from reference_services.platform import idempotency
from reference_services.platform.db import Database
from reference_services.platform.outcome import Outcome
from reference_services.platform.problems import Problem, not_found


@dataclass(frozen=True)
class NewOperation:
    work_center: str
    description: str
    planned_minutes: int


@dataclass(frozen=True)
class CreateOrder:
    order_ref: str
    customer_ref: str
    sku: str
    quantity: int
    due_date: date
    plant: str
    priority: int
    operations: list[NewOperation] | None = None


PlantScope = frozenset[str] | None
"""The plants a caller may see (from the gateway's X-Plant-Scope); None: every plant."""


def check_plant(scope: PlantScope, plant: str, what: str) -> None:
    if scope is not None and plant not in scope:
        raise not_found(what)


def present(order: ProductionOrder) -> dict[str, Any]:
    return {
        "id": str(order.id),
        "order_ref": order.order_ref,
        "customer_ref": order.customer_ref,
        "sku": order.sku,
        "quantity": order.quantity,
        "due_date": order.due_date.isoformat(),
        "plant": order.plant,
        "priority": order.priority,
        "status": order.status.value,
        "version": order.version,
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
        "operations": [
            {
                "seq": op.seq,
                "work_center": op.work_center,
                "description": op.description,
                "planned_minutes": op.planned_minutes,
                "status": op.status.value,
            }
            for op in order.operations
        ],
    }


async def create_order(
    db: Database,
    command: CreateOrder,
    claim: idempotency.Claim | None,
    scope: PlantScope = None,
    routings: ProductRoutings | None = None,
) -> Outcome:
    """The order, its operations, its outbox event and the idempotency key's response commit in
    one statement (see orders_repository.create_order)."""
    check_plant(scope, command.plant, f"plant {command.plant}")
    try:
        return await _create_order(db, command, claim, routings)
    except MissingReference:
        pass
    # Only operations given in the request can name a work center the plant does not have.
    async with db.read(await db.current_lsn()) as read:
        missing = await OrderRepository(read.conn).missing_work_centers(
            command.plant, {op.work_center for op in command.operations or ()}
        )
    raise Problem(
        422,
        "unknown-work-center",
        "Unknown work center",
        f"plant {command.plant} has no work center {', '.join(sorted(missing))}",
    )


async def _create_order(
    db: Database,
    command: CreateOrder,
    claim: idempotency.Claim | None,
    routings: ProductRoutings | None,
) -> Outcome:
    routing = await product_routing(db, command.plant, command.sku, routings)
    if routing is None:
        raise Problem(
            422,
            "unknown-sku",
            "Unknown SKU",
            f"plant {command.plant} has no product {command.sku}",
        )
    operations = (
        [(op.work_center, op.description, op.planned_minutes) for op in command.operations]
        if command.operations
        else [(op["work_center"], op["description"], op["planned_minutes"]) for op in routing]
    )
    order = new_order(
        order_ref=command.order_ref,
        customer_ref=command.customer_ref,
        sku=command.sku,
        quantity=command.quantity,
        due_date=command.due_date,
        plant=command.plant,
        priority=command.priority,
        operations=operations,
    )
    body = present(order)
    events = order_events(order)
    commit_lsn = await orders_repository.create_order(
        db, order, events, (claim, 201, body) if claim is not None else None
    )
    if commit_lsn is None:
        raise Problem(
            409,
            "duplicate-order-ref",
            "Duplicate order reference",
            f"plant {order.plant} already has an order {order.order_ref}",
        )
    order.events.clear()
    order_metrics.record(events)
    return Outcome(body, commit_lsn)


async def change_order(
    db: Database,
    order_id: uuid.UUID,
    *,
    action: Action | None = None,
    priority: int | None = None,
    due_date: date | None = None,
    operation: tuple[int, OperationAction] | None = None,
    expected_version: int | None = None,
    claim: idempotency.Claim | None = None,
    scope: PlantScope = None,
) -> Outcome:
    async with UnitOfWork(db) as uow:
        order = await uow.orders.get_for_update(order_id)
        if order is None:
            raise not_found(f"order {order_id}")
        check_plant(scope, order.plant, f"order {order_id}")
        if expected_version is not None and order.version != expected_version:
            raise Problem(
                412,
                "precondition-failed",
                "Precondition failed",
                f"order {order_id} is at version {order.version}, not {expected_version}",
                current_version=order.version,
            )
        if action is not None:
            order.apply(action)
        elif operation is not None:
            seq, step = operation
            if step is OperationAction.START:
                order.start_operation(seq)
            else:
                order.complete_operation(seq)
        else:
            order.reprioritize(priority, due_date)
        await uow.orders.save(order)
        body = present(order)
        if claim is not None:
            await idempotency.complete(uow.conn, claim, 200, body)
    return Outcome(body, uow.commit_lsn)
