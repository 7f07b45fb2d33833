"""The reporting database: the inbox of applied events and the read model built from them."""

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import UUID

from reference_services.platform.inbox import define_inbox

metadata = MetaData()

inbox = define_inbox(metadata)

report_orders = Table(
    "report_orders",
    metadata,
    Column("order_id", UUID(as_uuid=True), primary_key=True),
    Column("order_ref", String(64), nullable=False),
    Column("plant", String(16), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("released_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("cancelled_at", DateTime(timezone=True)),
    Column("held_since", DateTime(timezone=True)),
    Column("last_sequence", BigInteger, nullable=False),
    Column("events_applied", Integer, nullable=False),
    Index("report_orders_plant_status", "plant", "status"),
    Index("report_orders_plant_completed", "plant", "completed_at"),
    Index("report_orders_plant_due", "plant", "due_date"),
)
