"""Churn reasons: the table ml.score_churn writes explanations to, and the analyst view.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-28

Why: a score alone does not tell a retention team what to do (issue 13). With
``explain = k`` a scoring run also writes, in the same transaction as its scores,
each customer's ``k`` strongest reasons: the input column, the customer's value
of it as text, and its contribution (the change in churn probability this value
accounts for, positive when it raises the risk; see
``sqlml.kinds.churn.explain``). Analysts read the latest run's reasons per model
name through ``predictions.churn_reasons_latest``, beside ``churn_latest``.
Definitions: migrations/objects/0021/ (see sqlml/deploy/objects.py).
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.objects import apply_snapshot, revert_snapshot

revision = "0021"
down_revision = "0020"


def upgrade() -> None:
    op.create_table(
        "churn_reasons",
        # As for churn_scores: the run names its model, so no per-row foreign key
        # to the registry; the run itself is checked once per row batch by its key.
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey("ops.runs.run_id"), nullable=False),
        sa.Column("customer_id", sa.Unicode(64), nullable=False),
        sa.Column("rank", sa.SmallInteger, nullable=False),
        sa.Column("feature", sa.Unicode(128), nullable=False),
        sa.Column("feature_value", sa.Unicode(4000)),  # NULL: the customer's value was NULL
        sa.Column("contribution", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "customer_id", "rank"),
        sa.CheckConstraint("rank >= 1", name="rank"),
        sa.CheckConstraint("contribution BETWEEN -1 AND 1", name="contribution"),
        schema="predictions",
    )
    apply_snapshot(revision)


def downgrade() -> None:
    revert_snapshot(revision)
    op.drop_table("churn_reasons", schema="predictions")
