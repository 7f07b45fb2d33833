"""The notification database: the inbox, the orders it watches, webhook subscriptions and their
deliveries (with every attempt logged), and the alerts of the in-app feed with each user's reads."""

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
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
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from reference_services.platform.idempotency import define_idempotency_keys
from reference_services.platform.inbox import define_inbox

metadata = MetaData()

inbox = define_inbox(metadata)
idempotency_keys = define_idempotency_keys(metadata)

watched_orders = Table(
    "watched_orders",
    metadata,
    Column("order_id", UUID(as_uuid=True), primary_key=True),
    Column("order_ref", String(64), nullable=False),
    Column("plant", String(16), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("held_since", DateTime(timezone=True)),
    Column("last_sequence", BigInteger, nullable=False),
    Index(
        "watched_orders_open_due",
        "due_date",
        postgresql_where="status NOT IN ('completed', 'cancelled')",
    ),
    Index("watched_orders_held", "held_since", postgresql_where="held_since IS NOT NULL"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("url", Text, nullable=False),
    Column("event_types", ARRAY(String(100)), nullable=False),
    Column("plant", String(16)),
    Column("secret", String(100), nullable=False),
    Column("description", String(200), nullable=False, server_default=""),
    Column("managed", Boolean, nullable=False, server_default="false"),
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("subscription_id", UUID(as_uuid=True), ForeignKey("subscriptions.id"), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("body", JSONB, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", SmallInteger, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("subscription_id", "event_id", name="deliveries_once_per_event"),
    Index("deliveries_due", "next_attempt_at", postgresql_where="status = 'pending'"),
    Index("deliveries_by_subscription", "subscription_id", "created_at"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("delivery_id", UUID(as_uuid=True), ForeignKey("deliveries.id"), primary_key=True),
    Column("attempt", SmallInteger, primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", SmallInteger),
    Column("error", Text),
    Column("next_attempt_at", DateTime(timezone=True)),
)

alerts = Table(
    "alerts",
    metadata,
    Column("number", BigInteger, Identity(), primary_key=True),
    Column("id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("plant", String(16), nullable=False),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("order_ref", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("detail", Text, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Index("alerts_plant_number", "plant", "number"),
    Index("alerts_order_type", "order_id", "type"),
)

alert_reads = Table(
    "alert_reads",
    metadata,
    Column("user_id", String(200), primary_key=True),
    Column("alert_number", BigInteger, ForeignKey("alerts.number"), primary_key=True),
    Column("read_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
