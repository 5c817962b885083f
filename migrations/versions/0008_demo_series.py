"""Demo monthly series and the default forecaster input view.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25

Why: the forecaster needs series where a SQL Server team keeps them, in a table
(features.monthly_usage: one row per series and month, the demo's telco usage),
and ml.train_forecaster / ml.forecast need a default input when the caller
passes none: the view features.forecast_input. A team with its own data points
input_query at its own tables or views instead.
Definitions: migrations/objects/0008/ (see sqlml/deploy/objects.py).
postgres ships: features.forecast_input.
mssql ships: features.forecast_input.
"""

from alembic import op

from sqlml.deploy.data_loss import refuse_unless_allowed
from sqlml.deploy.ddl import create_series_table
from sqlml.deploy.objects import apply_snapshot, revert_snapshot

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    create_series_table("monthly_usage")
    apply_snapshot(revision)


def downgrade() -> None:
    refuse_unless_allowed("0008", tables=("features.monthly_usage",))
    revert_snapshot(revision)
    op.drop_table("monthly_usage", schema="features")
