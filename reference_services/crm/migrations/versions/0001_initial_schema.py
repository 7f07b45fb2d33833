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

AWAITING_PROGRESS = sa.text(
    "status = 'submitted' OR (status = 'accepted'"
    " AND (mes_status IS NULL OR mes_status NOT IN ('completed', 'cancelled')))"
)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("plant", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column(
            "contacts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("customers_created", "customers", ["created_at", "id"], unique=False)
    op.create_index(
        "customers_plant_created", "customers", ["plant", "created_at", "id"], unique=False
    )
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
        "mes_feed",
        sa.Column("feed", sa.String(length=32), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("feed"),
    )
    op.create_table(
        "sales_orders",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("number", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("plant", sa.String(length=16), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reject_type", sa.String(length=200), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("mes_order_id", sa.UUID(), nullable=True),
        sa.Column("mes_status", sa.String(length=16), nullable=True),
        sa.Column("mes_version", sa.Integer(), nullable=True),
        sa.Column("submit_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_submit_error", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('submitted', 'accepted', 'rejected')", name="sales_orders_status"
        ),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name="sales_orders_priority_range"),
        sa.CheckConstraint("quantity > 0", name="sales_orders_quantity_positive"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index(
        "sales_orders_awaiting_progress",
        "sales_orders",
        ["created_at"],
        unique=False,
        postgresql_where=AWAITING_PROGRESS,
    )
    op.create_index("sales_orders_created", "sales_orders", ["created_at", "id"], unique=False)
    op.create_index(
        "sales_orders_customer_created",
        "sales_orders",
        ["customer_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "sales_orders_due_for_submission",
        "sales_orders",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'submitted'"),
    )
    op.create_index(
        "sales_orders_plant_created", "sales_orders", ["plant", "created_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("sales_orders_plant_created", table_name="sales_orders")
    op.drop_index(
        "sales_orders_due_for_submission",
        table_name="sales_orders",
        postgresql_where=sa.text("status = 'submitted'"),
    )
    op.drop_index("sales_orders_customer_created", table_name="sales_orders")
    op.drop_index("sales_orders_created", table_name="sales_orders")
    op.drop_index(
        "sales_orders_awaiting_progress",
        table_name="sales_orders",
        postgresql_where=AWAITING_PROGRESS,
    )
    op.drop_table("sales_orders")
    op.drop_table("mes_feed")
    op.drop_table("idempotency_keys")
    op.drop_index("customers_plant_created", table_name="customers")
    op.drop_index("customers_created", table_name="customers")
    op.drop_table("customers")
