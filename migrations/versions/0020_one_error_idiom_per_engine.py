"""One idiom per engine: thin ml wrappers, the model name check in one place.

Revision ID: 0020
Revises: 0018
Create Date: 2026-11-28

Why: each engine had the same steps copied into every public routine (issue 10).
On PostgreSQL each ml wrapper now makes one statement of ops.call's JSON result
(``jsonb_populate_record`` / ``jsonb_to_record``), and the default input query of a
kind comes from ``ops.input_or_default``. On SQL Server the model name check moves
into ``ops.begin_run`` (the CATCH block still records the refused call), and the
hand-back of the embedded Python's error is ``ops.raise_script_error``. The public
interface and every error number stay as they were.
Definitions: migrations/objects/0020/ (see sqlml/deploy/objects.py).
postgres ships: ml.activate_model, ml.forecast, ml.score_churn, ml.spark_begin,
    ml.spark_fail, ml.spark_publish, ml.train_churn_model, ml.train_forecaster,
    ops.claim_spark_stage, ops.input_or_default, ops.model_binding, ops.model_version,
    ops.record_drift, ops.run_forecast, ops.run_score_churn.
postgres removes: ops.active_model.
mssql ships: ml.activate_model, ml.forecast, ml.runtime_info, ml.score_churn,
    ml.spark_begin, ml.spark_fail, ml.spark_publish, ops.begin_run,
    ops.claim_spark_stage, ops.close_spark_stage, ops.fail_run, ops.model_version,
    ops.raise_script_error, ops.record_drift, ops.train_model.
mssql removes: ops.active_model.
"""

from sqlml.deploy.objects import replaceable_objects

revision = "0020"
down_revision = "0018"

upgrade, downgrade = replaceable_objects(revision)
