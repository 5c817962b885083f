"""One definition each: shared steps of the routines and views move into one place.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28

Why: issue 10 asks that a step written once be written in one place. This revision
ships the routines and views whose text changed when their repeated steps were
merged; the public interface, every error number and every SQLSTATE stay as they
were. A PostgreSQL function's argument list is part of its identity, so the old
signatures of the functions whose arguments change are dropped before their new
definitions are created (and the other way round on downgrade).
Definitions: migrations/objects/0022/ (see sqlml/deploy/objects.py).
postgres ships: ml.activate_model, ml.forecast, ml.score_churn, ml.spark_abandon,
    ml.spark_begin, ml.spark_fail, ml.spark_publish, ml.train_churn_model,
    ml.train_forecaster, models.drift, ops.claim_spark_stage, ops.close_spark_stage,
    ops.finish_run, ops.model_version, ops.python_runtime, ops.python_step,
    ops.record_drift, ops.run_call, ops.run_log, ops.run_predict, ops.run_train,
    ops.sweep_runs, ops.use_python_runtime, predictions.churn_latest,
    predictions.churn_reasons_latest, predictions.forecast_latest.
postgres removes: ops.churn_score_staged, ops.drift_staged, ops.forecast_staged,
    ops.run_forecast, ops.run_score_churn, ops.train_staged.
mssql ships: ml.activate_model, ml.forecast, ml.score_churn, ml.spark_begin,
    ml.spark_fail, ml.spark_publish, ml.train_churn_model, ml.train_forecaster,
    ops.begin_run, ops.call, ops.close_spark_stage, ops.fail_run, ops.finish_run,
    ops.model_version, ops.raise_script_error, ops.record_drift, ops.register_model,
    ops.run_activate, ops.run_forecast, ops.run_score_churn, ops.train_model.
"""

from sqlml.deploy.ddl import is_mssql
from sqlml.deploy.objects import apply_snapshot, execute, revert_snapshot

revision = "0022"
down_revision = "0021"

# PostgreSQL functions whose argument lists change here: (before, after).
SIGNATURES = [
    ("ops.close_spark_stage(bigint, text, text)",
     "ops.close_spark_stage(ops.spark_stages, text, text)"),
]


def upgrade() -> None:
    if not is_mssql():
        for before, _ in SIGNATURES:
            execute(f"DROP FUNCTION IF EXISTS {before}")
    apply_snapshot(revision)


def downgrade() -> None:
    if not is_mssql():
        for _, after in SIGNATURES:
            execute(f"DROP FUNCTION IF EXISTS {after}")
    revert_snapshot(revision)
