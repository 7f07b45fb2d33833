"""completion callbacks from the notification service, each recorded once

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "sales_orders",
        sa.Column("completion_notified_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "mes_callbacks",
        sa.Column("event_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("mes_order_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("webhook_id", sa.String(100), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("mes_callbacks")
    op.drop_column("sales_orders", "completion_notified_at")
