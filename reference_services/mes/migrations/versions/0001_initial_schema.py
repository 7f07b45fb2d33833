"""initial schema

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


def upgrade() -> None:

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("plant", sa.String(length=16), nullable=False),
        sa.Column("order_ref", sa.String(length=64), nullable=False),
        sa.Column("customer_ref", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("held_from", sa.String(length=16), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name="orders_priority_range"),
        sa.CheckConstraint("quantity > 0", name="orders_quantity_positive"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plant", "order_ref", name="orders_plant_order_ref"),
    )
    op.create_index("orders_created", "orders", ["created_at", "id"], unique=False)
    op.create_index("orders_due", "orders", ["due_date", "id"], unique=False)
    op.create_index(
        "orders_plant_status_priority",
        "orders",
        ["plant", "status", "priority", "due_date"],
        unique=False,
    )
    op.create_index("orders_priority", "orders", ["priority", "id"], unique=False)
    op.create_index("orders_status_created", "orders", ["status", "created_at", "id"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("aggregate_type", sa.String(length=50), nullable=False),
        sa.Column("aggregate_id", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("traceparent", sa.Text(), nullable=True),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(
        "outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "work_centers",
        sa.Column("plant", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("plant", "code"),
    )
    op.create_table(
        "operators",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("plant", sa.String(length=16), nullable=False),
        sa.Column("work_center", sa.String(length=32), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("role IN ('operator', 'planner')", name="operators_role"),
        sa.ForeignKeyConstraint(
            ["plant", "work_center"],
            ["work_centers.plant", "work_centers.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "order_operations",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("plant", sa.String(length=16), nullable=False),
        sa.Column("work_center", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("planned_minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["plant", "work_center"],
            ["work_centers.plant", "work_centers.code"],
        ),
        sa.PrimaryKeyConstraint("order_id", "seq"),
    )
    op.create_index(
        "order_operations_work_center",
        "order_operations",
        ["plant", "work_center", "order_id"],
        unique=False,
    )


def downgrade() -> None:

    op.drop_index("order_operations_work_center", table_name="order_operations")
    op.drop_table("order_operations")
    op.drop_table("operators")
    op.drop_table("work_centers")
    op.drop_index(
        "outbox_unpublished", table_name="outbox", postgresql_where=sa.text("published_at IS NULL")
    )
    op.drop_table("outbox")
    op.drop_index("orders_status_created", table_name="orders")
    op.drop_index("orders_priority", table_name="orders")
    op.drop_index("orders_plant_status_priority", table_name="orders")
    op.drop_index("orders_due", table_name="orders")
    op.drop_index("orders_created", table_name="orders")
    op.drop_table("orders")
    op.drop_table("idempotency_keys")
