"""The CRM database schema (SQLAlchemy Core); migrations create exactly this.

A sales order row is its own outbox entry: while its status is `submitted`, `next_attempt_at`
says when the submitter may (re)send it, and the partial index finds the due ones.
"""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from reference_services.platform.idempotency import define_idempotency_keys

metadata = MetaData()

# SalesOrder.awaits_progress in SQL: the progress poller stops reading the MES feed while no
# order may still hear from the MES.
AWAITING_PROGRESS = text(
    "status = 'submitted' OR (status = 'accepted'"
    " AND (mes_status IS NULL OR mes_status NOT IN ('completed', 'cancelled')))"
)

customers = Table(
    "customers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("plant", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=False),
    Column("contacts", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("customers_plant_created", "plant", "created_at", "id"),
    Index("customers_created", "created_at", "id"),
)

sales_orders = Table(
    "sales_orders",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("number", BigInteger, Identity(), nullable=False, unique=True),
    Column("customer_id", UUID(as_uuid=True), ForeignKey("customers.id"), nullable=False),
    Column("plant", String(16), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reject_type", String(200)),
    Column("reject_reason", Text),
    Column("mes_order_id", UUID(as_uuid=True)),
    Column("mes_status", String(16)),
    Column("mes_version", Integer),
    Column("submit_attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_submit_error", Text),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("traceparent", Text),
    Column("completion_notified_at", DateTime(timezone=True)),
    CheckConstraint("quantity > 0", name="sales_orders_quantity_positive"),
    CheckConstraint("priority BETWEEN 1 AND 5", name="sales_orders_priority_range"),
    CheckConstraint("status IN ('submitted', 'accepted', 'rejected')", name="sales_orders_status"),
    Index(
        "sales_orders_due_for_submission",
        "next_attempt_at",
        postgresql_where=text("status = 'submitted'"),
    ),
    Index("sales_orders_awaiting_progress", "created_at", postgresql_where=AWAITING_PROGRESS),
    Index("sales_orders_customer_created", "customer_id", "created_at", "id"),
    Index("sales_orders_plant_created", "plant", "created_at", "id"),
    Index("sales_orders_created", "created_at", "id"),
)

# What the CRM has read of the MES's order feed: changes up to `watermark` are applied.
mes_feed = Table(
    "mes_feed",
    metadata,
    Column("feed", String(32), primary_key=True),
    Column("watermark", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Completion callbacks from the notification service, by event id: each is applied once.
mes_callbacks = Table(
    "mes_callbacks",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("event_type", String(100), nullable=False),
    Column("mes_order_id", UUID(as_uuid=True), nullable=False),
    Column("webhook_id", String(100), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

idempotency_keys = define_idempotency_keys(metadata)
