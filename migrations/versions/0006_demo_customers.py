"""Demo telco customers and the default churn feature view.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

Why: the demo and the tests need customer data where a SQL Server team keeps
it, in a table, and ml.train_churn_model / ml.score_churn need a default input
when the caller passes none: the view features.churn_features. A team with its
own data points input_query at its own tables or views instead.
Definitions: migrations/objects/0006/ (see sqlml/deploy/objects.py).
postgres ships: features.churn_features.
mssql ships: features.churn_features.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.data_loss import refuse_unless_allowed
from sqlml.deploy.objects import apply_snapshot, revert_snapshot

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("region", sa.Unicode(32), nullable=False),
        sa.Column("plan_tier", sa.Unicode(32), nullable=False),
        sa.Column("contract", sa.Unicode(32), nullable=False),
        sa.Column("tenure_months", sa.Integer, nullable=False),
        sa.Column("internet_service", sa.Unicode(32), nullable=False),
        sa.Column("phone_service", sa.Boolean, nullable=False),
        sa.Column("streaming", sa.Boolean, nullable=False),
        sa.Column("tech_support", sa.Boolean, nullable=False),
        sa.Column("payment_method", sa.Unicode(32), nullable=False),
        sa.Column("paperless_billing", sa.Boolean, nullable=False),
        sa.Column("monthly_charges", sa.Double, nullable=False),
        sa.Column("total_charges", sa.Double),
        sa.Column("support_calls", sa.Integer, nullable=False),
        sa.Column("monthly_usage_minutes", sa.Double),
        sa.Column("usage_change_pct", sa.Double, nullable=False),
        sa.Column("churned", sa.SmallInteger),
        sa.CheckConstraint("churned IN (0, 1)", name="churned"),
        schema="features",
    )
    apply_snapshot(revision)


def downgrade() -> None:
    refuse_unless_allowed("0006", tables=("features.customers",))
    revert_snapshot(revision)
    op.drop_table("customers", schema="features")
