"""Run log and prediction tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Why: every training, scoring and forecasting call is a run with an id, a
status and row counts (``ops.runs``), so SQL Agent / pg_cron history and
reports can tell what happened; predictions carry the run and model version
that produced them, so any number can be traced to a model.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.data_loss import refuse_unless_allowed
from sqlml.deploy.ddl import (
    current_login,
    json_checks,
    json_text,
    long_text,
    now,
    run_and_model,
    timestamp,
)

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("run_type", sa.Unicode(64), nullable=False),
        sa.Column("model_name", sa.Unicode(128)),
        sa.Column("model_id", sa.BigInteger, sa.ForeignKey("models.registry.model_id")),
        sa.Column("status", sa.Unicode(16), nullable=False, server_default="running"),
        sa.Column("rows_in", sa.BigInteger),
        sa.Column("rows_out", sa.BigInteger),
        sa.Column("params", json_text()),
        sa.Column("started_at", timestamp(), nullable=False, server_default=now()),
        sa.Column("finished_at", timestamp()),
        sa.Column("error", long_text()),
        sa.Column("created_by", sa.Unicode(128), nullable=False, server_default=current_login()),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status"),
        *json_checks("runs", "params"),
        schema="ops",
    )
    op.create_index("ix_runs_model_name_started_at", "runs", ["model_name", "started_at"],
                    schema="ops")

    op.create_table(
        "churn_scores",
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey("ops.runs.run_id"), nullable=False),
        # No foreign key on model_id: the run already names its model, and on
        # PostgreSQL each foreign key is a per-row trigger that cost 0.3 s per
        # 100k scores (a third of the insert) for a check the procedure makes once.
        sa.Column("model_id", sa.BigInteger, nullable=False),
        sa.Column("customer_id", sa.Unicode(64), nullable=False),
        sa.Column("churn_probability", sa.Double, nullable=False),
        sa.Column("scored_at", timestamp(), nullable=False, server_default=now()),
        sa.PrimaryKeyConstraint("run_id", "customer_id"),
        sa.CheckConstraint("churn_probability BETWEEN 0 AND 1", name="probability"),
        schema="predictions",
    )
    op.create_index("ix_churn_scores_customer_id_run_id", "churn_scores",
                    ["customer_id", "run_id"], schema="predictions")

    op.create_table(
        "forecasts",
        *run_and_model(),
        sa.Column("series_id", sa.Unicode(128), nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("forecast", sa.Double, nullable=False),
        sa.Column("lower", sa.Double),
        sa.Column("upper", sa.Double),
        sa.PrimaryKeyConstraint("run_id", "series_id", "period"),
        sa.CheckConstraint("step >= 1", name="step"),
        schema="predictions",
    )
    op.create_index("ix_forecasts_series_id_run_id", "forecasts", ["series_id", "run_id"],
                    schema="predictions")


def downgrade() -> None:
    refuse_unless_allowed("0003", tables=("predictions.forecasts", "predictions.churn_scores",
                                          "ops.runs"))
    op.drop_table("forecasts", schema="predictions")
    op.drop_table("churn_scores", schema="predictions")
    op.drop_table("runs", schema="ops")
