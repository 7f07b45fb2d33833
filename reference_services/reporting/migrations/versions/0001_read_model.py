"""inbox and the orders read model

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
        "inbox",
        sa.Column("event_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("stream_id", sa.String(40), nullable=False),
        sa.Column(
            "applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "report_orders",
        sa.Column("order_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("order_ref", sa.String(64), nullable=False),
        sa.Column("plant", sa.String(16), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
        sa.Column("held_since", sa.DateTime(timezone=True)),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("events_applied", sa.Integer(), nullable=False),
    )
    op.create_index("report_orders_plant_status", "report_orders", ["plant", "status"])
    op.create_index("report_orders_plant_completed", "report_orders", ["plant", "completed_at"])
    op.create_index("report_orders_plant_due", "report_orders", ["plant", "due_date"])


def downgrade() -> None:
    op.drop_table("report_orders")
    op.drop_table("inbox")
