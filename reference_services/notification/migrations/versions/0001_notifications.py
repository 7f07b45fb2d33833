"""inbox, watched orders, webhook subscriptions, deliveries and their attempts, alerts and reads

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("event_id", UUID, primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("stream_id", sa.String(40), nullable=False),
        sa.Column("applied_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("response_status", sa.Integer),
        sa.Column("response_body", postgresql.JSONB),
        sa.Column("locked_until", TIMESTAMP),
        sa.Column("created_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "watched_orders",
        sa.Column("order_id", UUID, primary_key=True),
        sa.Column("order_ref", sa.String(64), nullable=False),
        sa.Column("plant", sa.String(16), nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("held_since", TIMESTAMP),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "watched_orders_open_due",
        "watched_orders",
        ["due_date"],
        postgresql_where=sa.text("status NOT IN ('completed', 'cancelled')"),
    )
    op.create_index(
        "watched_orders_held",
        "watched_orders",
        ["held_since"],
        postgresql_where=sa.text("held_since IS NOT NULL"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.String(100)), nullable=False),
        sa.Column("plant", sa.String(16)),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("description", sa.String(200), nullable=False, server_default=""),
        sa.Column("managed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("subscription_id", UUID, sa.ForeignKey("subscriptions.id"), nullable=False),
        sa.Column("event_id", UUID, nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("body", postgresql.JSONB, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
        sa.Column("delivered_at", TIMESTAMP),
        sa.UniqueConstraint("subscription_id", "event_id", name="deliveries_once_per_event"),
    )
    op.create_index(
        "deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("deliveries_by_subscription", "deliveries", ["subscription_id", "created_at"])
    op.create_table(
        "delivery_attempts",
        sa.Column("delivery_id", UUID, sa.ForeignKey("deliveries.id"), primary_key=True),
        sa.Column("attempt", sa.SmallInteger, primary_key=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("status_code", sa.SmallInteger),
        sa.Column("error", sa.Text),
        sa.Column("next_attempt_at", TIMESTAMP),
    )
    op.create_table(
        "alerts",
        sa.Column("number", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("id", UUID, nullable=False, unique=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("plant", sa.String(16), nullable=False),
        sa.Column("order_id", UUID, nullable=False),
        sa.Column("order_ref", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("raised_at", TIMESTAMP, nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
    )
    op.create_index("alerts_plant_number", "alerts", ["plant", "number"])
    op.create_index("alerts_order_type", "alerts", ["order_id", "type"])
    op.create_table(
        "alert_reads",
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("alert_number", sa.BigInteger, sa.ForeignKey("alerts.number"), primary_key=True),
        sa.Column("read_at", TIMESTAMP, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    for table in (
        "alert_reads",
        "alerts",
        "delivery_attempts",
        "deliveries",
        "subscriptions",
        "watched_orders",
        "idempotency_keys",
        "inbox",
    ):
        op.drop_table(table)
