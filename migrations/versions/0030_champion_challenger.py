"""Champion and challenger on the same rows; realised performance; evidence for retraining.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06

Why: issue 26. The activation rule compared two versions each on its own validation
split, and nothing compared a live model's predictions with the outcomes that
arrived later. This revision holds the schema of the fix (procedures and views ship
in the objects revision that follows it):

- ``models.registry.pinned`` (NULL: false): the version ml.activate_model made active (a rollback
  or a promotion by hand), which the activation rule then keeps until a challenger
  beats it by the margin on the same rows;
- ``models.evaluations``: one row per ml.evaluate call (its run), with the version
  evaluated, the rows compared and the realised metrics as JSON;
- ``ops.runs.shadow_of``: set on a scoring or forecasting run made with a version that
  was not the active one (``version`` given): the model id of the version active then
  (0: none was). The analysts' latest views leave such shadow runs out;
- ``ops.runs.outcome``: what a run decided and the figures it decided on (an
  evaluation's metrics, the retraining check's trigger and figures), so SQL Agent's
  and pg_cron's history point at one row that says why.

``ml.score_churn`` and ``ml.forecast`` take a ``version`` argument, and a PostgreSQL
function's argument list is part of its identity: the old signatures are dropped here
(the objects revision creates the new ones) and, on downgrade, the new ones are
dropped (the objects revision's downgrade puts the old ones back).
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.ddl import (
    current_login,
    describe_columns,
    is_mssql,
    json_checks,
    json_text,
    now,
    timestamp,
    undescribe_columns,
)
from sqlml.deploy.objects import execute

revision = "0030"
down_revision = "0029"

# PostgreSQL functions whose argument lists change: (before, after).
SIGNATURES = [
    ("ml.score_churn(text, text, integer)", "ml.score_churn(text, text, integer, integer)"),
    ("ml.forecast(text, integer, text)", "ml.forecast(text, integer, text, integer)"),
]
# Revision 0026 describes every column of models.registry and ops.runs; the ones
# added here too: {(schema, table): {column: what it holds}}.
DESCRIBED = {
    ("models", "registry"): {
        "pinned": "True: ml.activate_model made this version active by hand (a rollback or a "
                  "promotion), and the activation rule keeps it until a challenger beats it "
                  "by the margin on the same rows. NULL reads as false.",
    },
    ("ops", "runs"): {
        "outcome": "What the run decided and the figures it decided on (JSON: an "
                   "evaluation's metrics, the retraining check's trigger and figures); NULL "
                   "for a run that decides nothing.",
        "shadow_of": "A scoring or forecasting run made with a version that was not the "
                     "active one: the model id of the version active then (0: none was). "
                     "The analysts' latest views leave such runs out; NULL otherwise.",
    },
}


def upgrade() -> None:
    # NULL reads as false: no server default, whose constraint SQL Server would name itself.
    op.add_column("registry", sa.Column("pinned", sa.Boolean), schema="models")
    op.add_column("runs", sa.Column("outcome", json_text()), schema="ops")
    op.add_column("runs", sa.Column("shadow_of", sa.BigInteger), schema="ops")
    if is_mssql():
        op.create_check_constraint("outcome_is_json", "runs",
                                   "outcome IS NULL OR ISJSON(outcome) = 1", schema="ops")
    for (schema, table), columns in DESCRIBED.items():
        describe_columns(schema, table, columns)
    op.create_table(
        "evaluations",
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey("ops.runs.run_id"), primary_key=True),
        sa.Column("model_id", sa.BigInteger, sa.ForeignKey("models.registry.model_id"),
                  nullable=False),
        sa.Column("model_name", sa.Unicode(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("metrics", json_text(), nullable=False),
        sa.Column("evaluated_at", timestamp(), nullable=False, server_default=now()),
        sa.Column("created_by", sa.Unicode(128), nullable=False, server_default=current_login()),
        *json_checks("evaluations", "metrics"),
        schema="models",
    )
    op.create_index("ix_evaluations_model_id_evaluated_at", "evaluations",
                    ["model_id", "evaluated_at"], schema="models")
    if not is_mssql():
        for before, _ in SIGNATURES:
            execute(f"DROP FUNCTION IF EXISTS {before}")


def downgrade() -> None:
    if not is_mssql():
        for _, after in SIGNATURES:
            execute(f"DROP FUNCTION IF EXISTS {after}")
    op.drop_index("ix_evaluations_model_id_evaluated_at", "evaluations", schema="models")
    op.drop_table("evaluations", schema="models")
    if is_mssql():
        op.drop_constraint(op.f("ck_runs_outcome_is_json"), "runs", schema="ops", type_="check")
    for (schema, table), columns in DESCRIBED.items():
        undescribe_columns(schema, table, list(columns))
    op.drop_column("runs", "shadow_of", schema="ops")
    op.drop_column("runs", "outcome", schema="ops")
    op.drop_column("registry", "pinned", schema="models")
