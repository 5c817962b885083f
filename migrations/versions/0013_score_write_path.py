"""Scores are written without a per-row foreign-key check.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28

Why: issue 11 (scoring near the engine's own floor). On PostgreSQL a foreign key
is a per-row trigger: writing 200,000 scores into predictions.churn_scores cost
about 1.5-2.5 s with ``fk_churn_scores_run_id_runs`` against 1.0-1.5 s without
it (2 cores, same run), the largest single cost of ``ml.score_churn`` after the
rows themselves. The check it makes is one the procedure already guarantees:
every score of a batch carries the run id that ``ops.begin_run`` returned in the
same transaction, and no role but the procedures' owner may write the table.
0003 dropped the foreign key on ``model_id`` for the same reason; this drops the
one on ``run_id``, on both engines, so their schemas stay alike. The primary key
(run_id, customer_id) and the (customer_id, run_id) index stay: one says each
customer is scored once per run, the other serves ``predictions.churn_latest``.
"""

from alembic import op

revision = "0013"
down_revision = "0012"

FOREIGN_KEY = "fk_churn_scores_run_id_runs"


def upgrade() -> None:
    op.drop_constraint(FOREIGN_KEY, "churn_scores", schema="predictions", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key(FOREIGN_KEY, "churn_scores", "runs", ["run_id"], ["run_id"],
                          source_schema="predictions", referent_schema="ops")
