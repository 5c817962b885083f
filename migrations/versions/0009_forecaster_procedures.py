"""Forecaster procedures: ml.train_forecaster, ml.forecast.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25

Why: the second model of the mission, an LSTM forecaster trained and run inside
the database through the public SQL interface of DESIGN.md, on the plumbing of
0007 (run bookkeeping, registration with the activation rule, which compares
backtest MASE for this kind, and active-model lookup). On PostgreSQL the
embedded-Python halves are functions of their own (ops.forecaster_train_py,
ops.forecast_py), as for churn.
Definitions: migrations/objects/0009/ (see sqlml/deploy/objects.py).
"""

from sqlml.deploy.objects import apply_snapshot, revert_snapshot

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_snapshot(revision)


def downgrade() -> None:
    revert_snapshot(revision)
