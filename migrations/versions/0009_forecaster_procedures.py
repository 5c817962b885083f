"""Forecaster procedures: ml.train_forecaster, ml.forecast.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25

Why: the second model of the mission, an LSTM forecaster trained and run inside
the database through the public SQL interface of DESIGN.md, on the plumbing of
0007 (run bookkeeping, registration with the activation rule, which compares
backtest MASE for this kind, and active-model lookup). Training goes through
0007's shared ops.train_model; forecasting's embedded-Python half on PostgreSQL is
a function of its own (ops.forecast_py), as ops.churn_score_py is for churn.
Definitions: migrations/objects/0009/ (see sqlml/deploy/objects.py).
postgres ships: ml.forecast, ml.train_forecaster, ops.forecast_py.
mssql ships: ml.forecast, ml.train_forecaster.
"""

from sqlml.deploy.objects import replaceable_objects

revision = "0009"
down_revision = "0008"

upgrade, downgrade = replaceable_objects(revision)
