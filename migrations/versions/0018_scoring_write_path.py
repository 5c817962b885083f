"""Scoring near the floor: churn_scores without text-keyed btrees; scores written from PL/Python.

Revision ID: 0018
Revises: 0016
Create Date: 2026-11-28

Why: issue 11 (batch scoring at most 4x an ``INSERT ... SELECT`` of the same rows).
Profiled on PostgreSQL (200,000 rows, 2 cores, same run): of ``ml.score_churn``'s
1.7 s, the insert into ``predictions.churn_scores`` took 0.74 s, and of that about
0.55 s was the upkeep of its two btrees keyed by the text ``customer_id``: the
primary key (run_id, customer_id) and the index (customer_id, run_id). A plain
table with the same check constraint took 0.12-0.13 s for the same rows; with a
BRIN index on ``run_id`` 0.17 s; with a btree on ``run_id`` 0.26 s.

* The primary key said "each customer is scored once per run". Its writers already
  guarantee that before a row is written: ``ml.score_churn`` refuses an input with a
  duplicated id (``kinds.churn.scoring.customer_ids``), ``ml.spark_publish`` dedupes
  the stage and refuses conflicting rows, and no other role may write the table
  (issue 8). On PostgreSQL it goes, and a BRIN index on ``run_id`` (run ids grow
  with time, and a batch is appended in one statement) serves a run's rows and
  the removal of old runs for a few percent of the insert.
* The (customer_id, run_id) index served single-customer lookups in
  ``predictions.churn_latest``; the view's own reads (every customer's latest score)
  sort the table whatever its indexes. It goes on both engines. A DBA whose reports
  look up one customer at a time in a long history can add it back (docs/dba.md
  says how, and what it costs each batch).
* On SQL Server the primary key stays: it is the clustered index, the table's own
  storage in (run_id, customer_id) order, to which a batch is appended; dropping it
  would leave a heap. That is the same shape as PostgreSQL's heap plus BRIN.

With it, ``ops.churn_score_staged`` writes the scores itself with one prepared
INSERT from two text payloads (new signature: the model id in, the row count out),
instead of returning two arrays of 200,000 values for ``ops.run_score_churn`` to
unnest. Definitions: migrations/objects/0018/ (see sqlml/deploy/objects.py).
postgres ships: ops.churn_score_staged, ops.run_score_churn.
"""

from alembic import op

from sqlml.deploy.ddl import is_mssql
from sqlml.deploy.objects import apply_snapshot, revert_snapshot

revision = "0018"
down_revision = "0016"

CUSTOMER_INDEX = "ix_churn_scores_customer_id_run_id"
PRIMARY_KEY = "pk_churn_scores"
RUN_BRIN = "ix_churn_scores_run_id_brin"


def upgrade() -> None:
    op.drop_index(CUSTOMER_INDEX, "churn_scores", schema="predictions")
    if not is_mssql():
        op.drop_constraint(PRIMARY_KEY, "churn_scores", schema="predictions", type_="primary")
        op.create_index(RUN_BRIN, "churn_scores", ["run_id"], schema="predictions",
                        postgresql_using="brin")
        # A new signature is a new function to PostgreSQL: drop the old one.
        op.execute("DROP FUNCTION IF EXISTS ops.churn_score_staged(bigint, bytea, text)")
    apply_snapshot(revision)


def downgrade() -> None:
    revert_snapshot(revision)
    if not is_mssql():
        op.execute("DROP FUNCTION IF EXISTS ops.churn_score_staged(bigint, bigint, bytea, text)")
        op.drop_index(RUN_BRIN, "churn_scores", schema="predictions")
        op.create_primary_key(PRIMARY_KEY, "churn_scores", ["run_id", "customer_id"],
                              schema="predictions")
    op.create_index(CUSTOMER_INDEX, "churn_scores", ["customer_id", "run_id"],
                    schema="predictions")
