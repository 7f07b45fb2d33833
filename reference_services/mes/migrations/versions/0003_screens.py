"""operator screens: logins, scrap reports, queue indexes

Revision ID: 0003_screens
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_screens"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("operators", sa.Column("login", sa.String(length=64), nullable=True))
    op.add_column("operators", sa.Column("password_hash", sa.String(length=200), nullable=True))
    op.create_unique_constraint("operators_login", "operators", ["login"])
    op.create_index("orders_plant_priority", "orders", ["plant", "priority", "id"], unique=False)
    op.create_index("orders_plant_due", "orders", ["plant", "due_date", "id"], unique=False)
    op.create_index("orders_plant_created", "orders", ["plant", "created_at", "id"], unique=False)
    op.create_table(
        "scrap_reports",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("reported_by", sa.String(length=200), nullable=False),
        sa.Column(
            "reported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("quantity > 0", name="scrap_reports_quantity_positive"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "scrap_reports_order", "scrap_reports", ["order_id", "reported_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("scrap_reports_order", table_name="scrap_reports")
    op.drop_table("scrap_reports")
    op.drop_index("orders_plant_created", table_name="orders")
    op.drop_index("orders_plant_due", table_name="orders")
    op.drop_index("orders_plant_priority", table_name="orders")
    op.drop_constraint("operators_login", "operators", type_="unique")
    op.drop_column("operators", "password_hash")
    op.drop_column("operators", "login")
