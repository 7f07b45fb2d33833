"""The MES database schema (SQLAlchemy Core); migrations create exactly this."""

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from reference_services.platform.idempotency import define_idempotency_keys
from reference_services.platform.outbox import define_outbox

metadata = MetaData()

work_centers = Table(
    "work_centers",
    metadata,
    Column("plant", String(16), primary_key=True),
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

operators = Table(
    "operators",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("plant", String(16), nullable=False),
    Column("work_center", String(32)),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("login", String(64)),
    Column("password_hash", String(200)),
    ForeignKeyConstraint(["plant", "work_center"], ["work_centers.plant", "work_centers.code"]),
    CheckConstraint("role IN ('operator', 'planner')", name="operators_role"),
    UniqueConstraint("login", name="operators_login"),
)

products = Table(
    "products",
    metadata,
    Column("plant", String(16), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("routing", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

orders = Table(
    "orders",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("plant", String(16), nullable=False),
    Column("order_ref", String(64), nullable=False),
    Column("customer_ref", String(64), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("held_from", String(16)),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("plant", "order_ref", name="orders_plant_order_ref"),
    CheckConstraint("quantity > 0", name="orders_quantity_positive"),
    CheckConstraint("priority BETWEEN 1 AND 5", name="orders_priority_range"),
    Index("orders_created", "created_at", "id"),
    Index("orders_due", "due_date", "id"),
    Index("orders_priority", "priority", "id"),
    Index("orders_plant_status_priority", "plant", "status", "priority", "due_date"),
    Index("orders_status_created", "status", "created_at", "id"),
    Index("orders_updated", "updated_at", "id"),
    # the operator screens' queue: one plant, in the order of the chosen sort
    Index("orders_plant_priority", "plant", "priority", "id"),
    Index("orders_plant_due", "plant", "due_date", "id"),
    Index("orders_plant_created", "plant", "created_at", "id"),
)

order_operations = Table(
    "order_operations",
    metadata,
    Column(
        "order_id",
        UUID(as_uuid=True),
        ForeignKey("orders.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", SmallInteger, primary_key=True),
    Column("plant", String(16), nullable=False),
    Column("work_center", String(32), nullable=False),
    Column("description", String(200), nullable=False),
    Column("planned_minutes", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    ForeignKeyConstraint(["plant", "work_center"], ["work_centers.plant", "work_centers.code"]),
    Index("order_operations_work_center", "plant", "work_center", "order_id"),
)

scrap_reports = Table(
    "scrap_reports",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "order_id", UUID(as_uuid=True), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    ),
    Column("seq", SmallInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("reported_by", String(200), nullable=False),
    Column("reported_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("quantity > 0", name="scrap_reports_quantity_positive"),
    Index("scrap_reports_order", "order_id", "reported_at"),
)

outbox = define_outbox(metadata)
idempotency_keys = define_idempotency_keys(metadata)
