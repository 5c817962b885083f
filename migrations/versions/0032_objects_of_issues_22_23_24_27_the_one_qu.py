"""Objects of issues 22, 23 and 27: one-query checks, one crossing, series batches

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06

Why: issue 22 (finding 3): SQL Server's ops.run_score_churn embeds the caller's query
in its batch statements, and sqlml spark hands it to Spark's JDBC reader; both now
check by the engine's parser that it is exactly one query (ops.check_input_query,
ml.check_input_query). Issue 23 (item 3): on PostgreSQL a run crosses into Python once
after staging (once per batch): the scoring and forecasting steps write their drift
themselves, so ops.record_drift goes. Issue 27 (item 3): ml.forecast reads, forecasts
and writes a batch of whole series at a time on both engines (ops.call's loop,
ops.stage_input, ops.python_step's forecast_more).
Definitions: migrations/objects/0032/ (see sqlml/deploy/objects.py).
postgres ships: ml.check_input_query, ops.call, ops.python_step, ops.run_forecast,
    ops.run_predict_model, ops.run_score_churn, ops.stage_input.
postgres removes: ops.record_drift.
mssql ships: ml.check_input_query, ops.check_input_query, ops.run_forecast,
    ops.run_score_churn.
"""

from sqlml.deploy.objects import replaceable_objects

revision = "0032"
down_revision = "0031"

upgrade, downgrade = replaceable_objects(revision)
