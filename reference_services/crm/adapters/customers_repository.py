"""Loading and saving customers, and the customer list."""

import uuid
from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.crm.adapters.tables import customers
from reference_services.crm.domain.model import Contact, Customer
from reference_services.platform.keyset import decode_cursor, encode_cursor


def _from_row(row: Row[Any]) -> Customer:
    return Customer(
        id=row.id,
        name=row.name,
        email=row.email,
        plant=row.plant,
        contacts=[Contact(c["name"], c["email"], c.get("phone")) for c in row.contacts],
        created_at=row.created_at,
    )


class CustomerRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, customer: Customer) -> None:
        await self.conn.execute(
            customers.insert().values(
                id=customer.id,
                plant=customer.plant,
                name=customer.name,
                email=customer.email,
                contacts=[
                    {"name": c.name, "email": c.email, "phone": c.phone} for c in customer.contacts
                ],
                created_at=customer.created_at,
            )
        )

    async def get(self, customer_id: uuid.UUID) -> Customer | None:
        return await load_customer(self.conn, customer_id)


async def load_customer(conn: AsyncConnection, customer_id: uuid.UUID) -> Customer | None:
    row = (await conn.execute(select(customers).where(customers.c.id == customer_id))).first()
    return _from_row(row) if row is not None else None


@dataclass(frozen=True)
class CustomerPage:
    items: list[Customer]
    next_cursor: str | None


async def list_customers(
    conn: AsyncConnection,
    *,
    plant: str | None,
    plants: Set[str] | None,
    limit: int,
    cursor: str | None,
) -> CustomerPage:
    """Customers oldest first; `plants` is the caller's plant scope (None: every plant)."""
    query = select(customers)
    if plant is not None:
        query = query.where(customers.c.plant == plant)
    if plants is not None:
        query = query.where(customers.c.plant.in_(sorted(plants)))
    if cursor:
        query = query.where(
            tuple_(customers.c.created_at, customers.c.id)
            > tuple_(*decode_cursor(cursor, "created_at", datetime))
        )
    query = query.order_by(customers.c.created_at, customers.c.id).limit(limit + 1)
    rows = (await conn.execute(query)).all()
    items = [_from_row(row) for row in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    return CustomerPage(
        items, encode_cursor("created_at", last.created_at, last.id) if last else None
    )
