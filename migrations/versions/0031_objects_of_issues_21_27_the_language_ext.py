"""Objects of issues 21-27: the language extension's checks, safe inputs, one contract, imported models, champion and challenger, batched scoring

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06

Why: the procedures and views of issues 21 to 27, merged in one session and shipped
together: SQL Server's input type checks, INSERT-EXEC probe and Agent failure step
(21); cheap checks, what-if scoring, the latest-reasons and drift views, one-query
input and calendar periods (22); twins of one name on both engines (23, which
removes PostgreSQL's ops.fail_call and ops.run_predict and SQL Server's
ops.train_model); ml.import_model and ml.predict (25); same-rows activation, a
version on scoring, ml.evaluate and the retraining check (26); scoring in batches
(27). ops.stage_input takes a fourth argument (batched), so its old signature is
dropped first: a three-argument call would match both.
Definitions: migrations/objects/0031/ (see sqlml/deploy/objects.py).
postgres ships: ml.evaluate, ml.forecast, ml.import_model, ml.predict, ml.score_churn,
    ml.score_churn_preview, ml.spark_begin, models.drift, models.performance,
    ops.begin_run, ops.call, ops.check_call, ops.check_options, ops.conninfo_quote,
    ops.fail_run, ops.figure, ops.finish_run, ops.import_call, ops.model_version,
    ops.python_step, ops.record_check, ops.record_drift, ops.register_model,
    ops.reraise, ops.retrain_check, ops.run_activate, ops.run_call, ops.run_evaluate,
    ops.run_forecast, ops.run_import, ops.run_log, ops.run_predict_model,
    ops.run_score_churn, ops.run_train, ops.stage_input, predictions.churn_latest,
    predictions.churn_reasons_latest, predictions.forecast_latest,
    predictions.scores_latest.
postgres removes: ops.fail_call, ops.run_predict.
mssql ships: ml.evaluate, ml.forecast, ml.import_model, ml.predict, ml.score_churn,
    ml.score_churn_preview, ml.train_churn_model, ml.train_forecaster, models.drift,
    models.performance, ops.call, ops.check_input_types, ops.finish_run,
    ops.input_column_cast, ops.raise_script_error, ops.record_job_failure,
    ops.register_model, ops.retrain_check, ops.run_activate, ops.run_evaluate,
    ops.run_forecast, ops.run_import, ops.run_predict_model, ops.run_score_churn,
    ops.run_train, predictions.churn_latest, predictions.churn_reasons_latest,
    predictions.forecast_latest, predictions.scores_latest.
mssql removes: ops.train_model.
"""

from sqlml.deploy.ddl import is_mssql
from sqlml.deploy.objects import apply_snapshot, execute, revert_snapshot

revision = "0031"
down_revision = "0030"

# PostgreSQL functions whose argument lists change here: (before, after).
SIGNATURES = [
    ("ops.stage_input(bigint, text, text)", "ops.stage_input(bigint, text, text, boolean)"),
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
