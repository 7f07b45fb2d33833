"""Loading and saving production orders, and the read queries of the order API."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import and_, bindparam, exists, func, select, tuple_
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.mes.adapters.tables import order_operations, orders, work_centers
from reference_services.mes.domain.model import (
    Operation,
    OperationStatus,
    OrderStatus,
    ProductionOrder,
)
from reference_services.platform import idempotency, keyset
from reference_services.platform.db import Database
from reference_services.platform.keyset import encode_cursor
from reference_services.platform.outbox import OutboxEvent, outbox_rows
from reference_services.platform.outbox_statement import outbox_ctes

_OPERATION_JSON = func.json_build_object(
    "seq",
    order_operations.c.seq,
    "work_center",
    order_operations.c.work_center,
    "description",
    order_operations.c.description,
    "planned_minutes",
    order_operations.c.planned_minutes,
    "status",
    order_operations.c.status,
)
_OPERATIONS_JSON = (
    select(func.json_agg(aggregate_order_by(_OPERATION_JSON, order_operations.c.seq)))
    .where(order_operations.c.order_id == orders.c.id)
    .scalar_subquery()
    .label("operations")
)

_ORDER_COLUMNS = [*orders.c, _OPERATIONS_JSON]

_ORDER_FIELDS = (
    "id, order_ref, customer_ref, sku, quantity, due_date, plant, priority, status, held_from,"
    " version, created_at, updated_at"
)
_LOAD_ORDER = f"""
SELECT {_ORDER_FIELDS},
       (SELECT json_agg(json_build_object('seq', seq, 'work_center', work_center,
                                          'description', description,
                                          'planned_minutes', planned_minutes, 'status', status)
                        ORDER BY seq)
        FROM order_operations WHERE order_id = orders.id)::text AS operations
FROM orders WHERE id = $1
"""
_PRODUCT_ROUTING = "SELECT routing::text AS routing FROM products WHERE plant = $1 AND sku = $2"

# New orders, their operations, their outbox events and their idempotency keys' responses in one
# statement, for a batch of orders given as one array per column (see platform/group_commit.py).
# An order whose (plant, order_ref) is taken (by another order, or by one earlier in the batch)
# writes nothing; an operation on a work center the plant lacks fails the whole statement. Rows go
# into the unique index in (plant, order_ref) order, as in every batch: two batches holding the
# same refs wait for each other in one order, never in a cycle (a deadlock).
_ORDER_INPUT = (
    ("id", "uuid"),
    ("plant", "text"),
    ("order_ref", "text"),
    ("customer_ref", "text"),
    ("sku", "text"),
    ("quantity", "int"),
    ("due_date", "date"),
    ("priority", "int"),
    ("status", "text"),
    ("version", "int"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("operations", "text"),
    ("events", "text"),
    *(
        (column, "int" if column == "response_status" else "text")
        for column in idempotency.COMPLETION_COLUMNS
    ),
)
_INPUT_ARRAYS = ", ".join(f"${n}::{type_}[]" for n, (_, type_) in enumerate(_ORDER_INPUT, 1))
_INPUT_NAMES = ", ".join(name for name, _ in _ORDER_INPUT)
_CREATE_ORDERS = f"""
WITH input AS (
    SELECT * FROM unnest({_INPUT_ARRAYS}) WITH ORDINALITY AS i({_INPUT_NAMES}, n)
), new_order AS (
    INSERT INTO orders (id, plant, order_ref, customer_ref, sku, quantity, due_date, priority,
                        status, held_from, version, created_at, updated_at)
    SELECT id, plant, order_ref, customer_ref, sku, quantity, due_date, priority,
           status, NULL, version, created_at, updated_at
    FROM input ORDER BY plant, order_ref, n
    ON CONFLICT ON CONSTRAINT orders_plant_order_ref DO NOTHING
    RETURNING id
), created AS (
    SELECT input.* FROM input JOIN new_order USING (id)
), new_operations AS (
    INSERT INTO order_operations (order_id, seq, plant, work_center, description,
                                  planned_minutes, status)
    SELECT created.id, op.seq, created.plant, op.work_center, op.description,
           op.planned_minutes, op.status
    FROM created, jsonb_to_recordset(CAST(created.operations AS jsonb)) AS op(
        seq int, work_center text, description text, planned_minutes int, status text)
), {outbox_ctes("created.events", "created", order_by="created.n")},
completed AS ({idempotency.completion_statement("created")})
SELECT n FROM created
"""
FOREIGN_KEY_VIOLATION = "23503"


class MissingReference(Exception):
    """A row names a row that does not exist (a foreign key violation)."""


async def create_order(
    db: Database,
    order: ProductionOrder,
    events: list[OutboxEvent],
    completion: tuple[idempotency.Claim, int, Any] | None = None,
) -> int | None:
    """Insert a new order, its operations and its outbox events, and store the response of the
    idempotency claim (`completion`: claim, status, body), all in one transaction (with the
    other orders created in the same round of the event loop: see platform/group_commit.py); the
    commit LSN, or None when (plant, order_ref) is taken and nothing was written. An operation on
    a work center the plant lacks raises MissingReference."""
    operations = orjson.dumps(
        [
            {
                "seq": op.seq,
                "work_center": op.work_center,
                "description": op.description,
                "planned_minutes": op.planned_minutes,
                "status": op.status.value,
            }
            for op in order.operations
        ]
    ).decode()
    row: list[object] = [
        order.id,
        order.plant,
        order.order_ref,
        order.customer_ref,
        order.sku,
        order.quantity,
        order.due_date,
        order.priority,
        order.status.value,
        order.version,
        order.created_at,
        order.updated_at,
        operations,
        outbox_rows(events),
        *idempotency.completion_args(*(completion or (None, 0, None))),
    ]
    try:
        written, commit_lsn = await db.group_commit(_CREATE_ORDERS).write(row)
    except asyncpg.PostgresError as exc:
        if getattr(exc, "sqlstate", None) == FOREIGN_KEY_VIOLATION:
            raise MissingReference(str(exc)) from exc
        raise
    return commit_lsn if written is not None else None


async def product_routing(
    db: Database, plant: str, sku: str, known: "ProductRoutings | None" = None
) -> list[dict[str, Any]] | None:
    """A product's routing (read on the primary: products are never changed or removed)."""
    if known is not None and (plant, sku) in known.routings:
        return known.routings[(plant, sku)]
    row = await db.fetch_row(_PRODUCT_ROUTING, plant, sku)
    if row is None:
        return None
    routing: list[dict[str, Any]] = orjson.loads(row["routing"])
    if known is not None:
        known.remember(plant, sku, routing)
    return routing


async def load_order_driver(conn: Any, order_id: uuid.UUID) -> ProductionOrder | None:
    """`load_order` on a raw asyncpg connection (see Database.driver_read)."""
    row = await conn.fetchrow(_LOAD_ORDER, order_id)
    return _from_row(row) if row is not None else None


def _from_row(row: Mapping[Any, Any]) -> ProductionOrder:
    """An order from a row of its columns and `operations` (JSON text or parsed), from SQLAlchemy
    (`row._mapping`) or asyncpg (a Record)."""
    raw = row["operations"]
    operations = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return ProductionOrder(
        id=row["id"],
        order_ref=row["order_ref"],
        customer_ref=row["customer_ref"],
        sku=row["sku"],
        quantity=row["quantity"],
        due_date=row["due_date"],
        plant=row["plant"],
        priority=row["priority"],
        status=OrderStatus(row["status"]),
        held_from=OrderStatus(row["held_from"]) if row["held_from"] else None,
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        operations=[
            Operation(
                op["seq"],
                op["work_center"],
                op["description"],
                op["planned_minutes"],
                OperationStatus(op["status"]),
            )
            for op in operations or ()
        ],
    )


class ProductRoutings:
    """Routings already read: products are never changed or removed, so a found one stays true."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self.routings: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def remember(self, plant: str, sku: str, routing: list[dict[str, Any]]) -> None:
        if len(self.routings) >= self.capacity:
            self.routings.pop(next(iter(self.routings)))
        self.routings[(plant, sku)] = routing


class OrderRepository:
    """Orders as aggregates, inside the unit of work's transaction. Remembers what it handed out."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.seen: list[ProductionOrder] = []
        self._loaded_operations: dict[uuid.UUID, list[OperationStatus]] = {}

    async def get_for_update(self, order_id: uuid.UUID) -> ProductionOrder | None:
        row = (
            await self.conn.execute(
                select(*_ORDER_COLUMNS).where(orders.c.id == order_id).with_for_update(of=orders)
            )
        ).first()
        if row is None:
            return None
        order = _from_row(row._mapping)
        self.seen.append(order)
        self._loaded_operations[order.id] = [op.status for op in order.operations]
        return order

    async def save(self, order: ProductionOrder) -> None:
        await self.conn.execute(
            orders.update()
            .where(orders.c.id == order.id)
            .values(
                status=order.status.value,
                held_from=order.held_from.value if order.held_from else None,
                priority=order.priority,
                due_date=order.due_date,
                version=order.version,
                updated_at=order.updated_at,
            )
        )
        loaded = self._loaded_operations.get(order.id, [])
        changed = [
            op
            for op, before in zip(order.operations, loaded, strict=True)
            if op.status is not before
        ]
        if changed:
            await self.conn.execute(
                order_operations.update()
                .where(
                    order_operations.c.order_id == bindparam("op_order_id"),
                    order_operations.c.seq == bindparam("op_seq"),
                )
                .values(status=bindparam("op_status")),
                [
                    {"op_order_id": order.id, "op_seq": op.seq, "op_status": op.status.value}
                    for op in changed
                ],
            )
            self._loaded_operations[order.id] = [op.status for op in order.operations]

    async def missing_work_centers(self, plant: str, codes: set[str]) -> set[str]:
        found = await self.conn.execute(
            select(work_centers.c.code).where(
                work_centers.c.plant == plant, work_centers.c.code.in_(sorted(codes))
            )
        )
        return codes - {row.code for row in found}


async def load_order(conn: AsyncConnection, order_id: uuid.UUID) -> ProductionOrder | None:
    row = (await conn.execute(select(*_ORDER_COLUMNS).where(orders.c.id == order_id))).first()
    return _from_row(row._mapping) if row is not None else None


SORTS = {
    "created_at": (orders.c.created_at, False),
    "-created_at": (orders.c.created_at, True),
    "due_date": (orders.c.due_date, False),
    "-due_date": (orders.c.due_date, True),
    "priority": (orders.c.priority, False),
    "-priority": (orders.c.priority, True),
    "updated_at": (orders.c.updated_at, False),
    "-updated_at": (orders.c.updated_at, True),
}
_SORT_KINDS: dict[str, type[datetime] | type[date] | type[int]] = {
    "created_at": datetime,
    "updated_at": datetime,
    "due_date": date,
    "priority": int,
}


@dataclass(frozen=True)
class OrderFilter:
    status: Sequence[OrderStatus] = ()
    plant: str | None = None
    work_center: str | None = None
    due_before: date | None = None
    updated_since: datetime | None = None
    plants: frozenset[str] | None = None
    order_ref_prefix: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[ProductionOrder]
    next_cursor: str | None


def decode_cursor(cursor: str, sort: str) -> tuple[Any, uuid.UUID]:
    return keyset.decode_cursor(cursor, sort, _SORT_KINDS[sort.lstrip("-")])


async def list_orders(
    conn: AsyncConnection, where: OrderFilter, sort: str, limit: int, cursor: str | None
) -> Page:
    column, descending = SORTS[sort]
    query = select(*_ORDER_COLUMNS)
    if where.status:
        query = query.where(orders.c.status.in_([s.value for s in where.status]))
    if where.plant:
        query = query.where(orders.c.plant == where.plant)
    if where.due_before:
        query = query.where(orders.c.due_date < where.due_before)
    if where.updated_since:
        query = query.where(orders.c.updated_at >= where.updated_since)
    if where.plants is not None:
        query = query.where(orders.c.plant.in_(sorted(where.plants)))
    if where.order_ref_prefix:
        query = query.where(orders.c.order_ref.startswith(where.order_ref_prefix, autoescape=True))
    if where.work_center:
        query = query.where(
            exists().where(
                and_(
                    order_operations.c.order_id == orders.c.id,
                    order_operations.c.work_center == where.work_center,
                )
            )
        )
    if cursor:
        value, last_id = decode_cursor(cursor, sort)
        key = tuple_(column, orders.c.id)
        query = query.where(
            key < tuple_(value, last_id) if descending else key > tuple_(value, last_id)
        )
    ordering = (
        [column.desc(), orders.c.id.desc()] if descending else [column.asc(), orders.c.id.asc()]
    )
    rows = (await conn.execute(query.order_by(*ordering).limit(limit + 1))).all()
    items = [_from_row(row._mapping) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(sort, getattr(last, column.name), last.id)
    return Page(items, next_cursor)
