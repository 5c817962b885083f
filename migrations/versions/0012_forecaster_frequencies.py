"""Forecaster frequencies: forecast periods as timestamps, messages in periods.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28

Why: the forecaster serves hourly, daily, business-daily, weekly, monthly,
quarterly and yearly series (issue 12). An hourly forecast's period is an hour,
which a DATE cannot hold, so ``predictions.forecasts.period`` becomes a timestamp
without time zone (PostgreSQL ``timestamp(0)``, SQL Server ``DATETIME2(0)``):
midnight for daily and longer periods, so existing rows and every query that
compares it with a date keep their meaning. ``ops.forecast_staged`` (PostgreSQL) and
``ml.forecast``'s result set (SQL Server) return that type, and the procedures'
messages speak of periods, not months. The callers' interface is unchanged.

``predictions.forecast_latest`` reads the column, so it is dropped and created
again around the change with its current definition (PostgreSQL cannot change
the type of a column a view uses, nor can Babelfish). The
view's grants come back with ``sqlml deploy``, which runs the role scripts after
the migrations. On SQL Server the column is part of the primary key, which is
dropped and created again around it.

The demo gains a daily table beside the monthly one, features.daily_usage (one row per
series and day: the demo telco's daily usage, with a weekly pattern), so the demo
shows a daily model next to the monthly one.

Downgrade: periods go back to DATE; forecasts whose period is not a midnight (hourly
ones) cannot be represented there and are deleted first.
Definitions: migrations/objects/0012/ (see sqlml/deploy/objects.py).
postgres ships: ml.forecast, ml.train_forecaster, ops.forecast_staged, ops.run_forecast.
mssql ships: ml.forecast, ml.train_forecaster.
"""

from alembic import op

from sqlml.deploy.data_loss import Rewrite, refuse_unless_allowed
from sqlml.deploy.ddl import create_series_table
from sqlml.deploy.objects import apply_snapshot, execute, recreate_latest, revert_snapshot

revision = "0012"
down_revision = "0011"

VIEW = "predictions.forecast_latest"
FORECAST_PY = "ops.forecast_staged(bigint, bytea, text, integer)"


def _mssql() -> bool:
    return op.get_context().dialect.name == "mssql"


def _period_type(sql_type: str) -> None:
    execute(f"DROP VIEW IF EXISTS {VIEW}")
    if _mssql():
        op.drop_constraint(op.f("pk_forecasts"), "forecasts", schema="predictions",
                           type_="primary")
        execute(f"ALTER TABLE predictions.forecasts ALTER COLUMN period {sql_type} NOT NULL")
        op.create_primary_key(op.f("pk_forecasts"), "forecasts",
                              ["run_id", "series_id", "period"], schema="predictions")
    else:
        execute(f"ALTER TABLE predictions.forecasts ALTER COLUMN period TYPE {sql_type} "
                f"USING period::{sql_type}")
        # The return type of a function cannot be replaced, only dropped and created.
        execute(f"DROP FUNCTION IF EXISTS {FORECAST_PY}")
    recreate_latest(VIEW, through=revision)


def upgrade() -> None:
    _period_type("DATETIME2(0)" if _mssql() else "timestamp(0)")
    apply_snapshot(revision)
    create_series_table("daily_usage")


def downgrade() -> None:
    off_midnight = ("period <> CAST(CAST(period AS DATE) AS DATETIME2(0))" if _mssql()
                    else "period <> date_trunc('day', period)")
    refuse_unless_allowed("0012", tables=("features.daily_usage",), rewrites=(Rewrite(
        "predictions.forecasts: each forecast of a period that does not start at midnight "
        "is deleted", "predictions.forecasts", off_midnight),))
    op.drop_table("daily_usage", schema="features")
    if _mssql():
        op.execute(f"DELETE FROM predictions.forecasts WHERE {off_midnight}")
        _period_type("DATE")
    else:
        op.execute(f"DELETE FROM predictions.forecasts WHERE {off_midnight}")
        _period_type("date")
    revert_snapshot(revision)
