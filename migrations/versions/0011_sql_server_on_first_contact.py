"""SQL Server on first contact: one CATCH idiom, the embedded Python's errors in
ERROR_MESSAGE(), the activation rule's comparison, abandoned runs, text customer ids.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28

Why: the T-SQL side first executed (on Babelfish, tests/babelfish) and was reviewed
against SQL Server's documentation (issue 9), and its trust boundaries were closed
(issue 8):

* ops.register_model read the active version's metric at '$.metrics.<metric>' of the
  registry's metrics column, which holds the metrics object itself: the comparison
  always saw NULL and every activate = 1 replaced the active version, however bad.
* A Python exception reached SQL Server as the generic Msg 39004; the procedures now
  take the error's sentence as @script_error OUTPUT and THROW it (50xxx), so
  ERROR_MESSAGE() and ops.runs.error say what went wrong.
* One CATCH idiom (ops.fail_run reads ERROR_MESSAGE() itself); thin procedures lose
  TRY/CATCH blocks that only re-threw.
* ops.runs keeps the caller's session (session_id, login_time) and a run whose
  session died is marked 'abandoned' by the next ops.begin_run.
* The ml procedures take model_name up to 4000 characters and refuse more than 128
  (NVARCHAR(128) parameters silently cut a longer name and acted on another model).
* features.customers.customer_id becomes NVARCHAR(64), the type predictions hold, so
  joins use the index and non-numeric ids work. SQL Server only: PostgreSQL's demo
  table keeps BIGINT, because the T-SQL contract harness reads it to hold the
  integer-id path (ids arriving as float64 must leave as '17', not '17.0').
Definitions: migrations/objects/0011/ (see sqlml/deploy/objects.py).
mssql ships: ml.activate_model, ml.forecast, ml.runtime_info, ml.score_churn,
    ml.train_churn_model, ml.train_forecaster, ops.active_model, ops.begin_run,
    ops.fail_run, ops.finish_run, ops.register_model, ops.train_model.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.data_loss import ABANDONED_BECOME_FAILED, refuse_unless_allowed
from sqlml.deploy.ddl import is_mssql
from sqlml.deploy.objects import apply_snapshot, execute, recreate_latest, revert_snapshot

revision = "0011"
down_revision = "0010"

STATUSES = ("running", "succeeded", "failed", "abandoned")


def _status_check(statuses) -> None:
    op.drop_constraint(op.f("ck_runs_status"), "runs", schema="ops", type_="check")
    listed = ", ".join(f"'{s}'" for s in statuses)
    op.create_check_constraint("status", "runs", f"status IN ({listed})", schema="ops")


def _customer_id(sql_type: str) -> None:
    """features.customers.customer_id to ``sql_type``: its primary key and the view
    that reads it (features.churn_features) are taken off and put back around it."""
    execute("DROP VIEW IF EXISTS features.churn_features")
    op.drop_constraint(op.f("pk_customers"), "customers", schema="features", type_="primary")
    execute(f"ALTER TABLE features.customers ALTER COLUMN customer_id {sql_type} NOT NULL")
    op.create_primary_key(op.f("pk_customers"), "customers", ["customer_id"], schema="features")
    recreate_latest("features.churn_features", through=revision)


def upgrade() -> None:
    if is_mssql():
        op.add_column("runs", sa.Column("session_id", sa.Integer), schema="ops")
        op.add_column("runs", sa.Column("login_time", sa.DateTime), schema="ops")
        _status_check(STATUSES)
        _customer_id("NVARCHAR(64)")
    apply_snapshot(revision)


def downgrade() -> None:
    refuse_unless_allowed("0011", columns=(("ops.runs", "session_id"), ("ops.runs", "login_time")),
                          rewrites=(ABANDONED_BECOME_FAILED,) if is_mssql() else ())
    revert_snapshot(revision)
    if is_mssql():
        _customer_id("BIGINT")
        op.execute("UPDATE ops.runs SET status = 'failed' WHERE status = 'abandoned'")
        _status_check(STATUSES[:3])
        op.drop_column("runs", "login_time", schema="ops")
        op.drop_column("runs", "session_id", schema="ops")
