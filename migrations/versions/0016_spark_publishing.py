"""Spark publishing: a staging schema and the routines that publish a Spark run.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28

Why: past one database host, ``sqlml spark score|forecast`` scores on Apache Spark
with the same registry, artifacts and entry points (issue 15). Spark's executors
write over JDBC, task by task, and a task may run twice (a retry, a speculative
copy); the prediction tables must still only ever show complete runs, and nobody
but the owner writes them or the run log (issue 8). So:

* ``ml.spark_begin`` (owner's rights) resolves the version as the procedures do,
  opens the run through ``ops.begin_run`` (run types ``score_churn`` / ``forecast``,
  ``params.engine`` = ``spark``) and opens a stage for it;
* the executors append to the stage, ``staging.churn_scores`` /
  ``staging.forecasts`` keyed by ``run_id``, which only the ``sqlml_spark`` role
  may write;
* ``ml.spark_publish`` dedupes what retried tasks wrote twice, checks the counts,
  writes the predictions, finishes the run through ``ops.finish_run`` and drops the
  stage, in one transaction; ``ml.spark_fail`` and ``ml.spark_abandon`` close a
  stage and fail its run. ``ops.spark_stages`` lists the open stages.

On PostgreSQL each stage is a partition of its kind's staging table, created by
``ml.spark_begin`` and dropped on publish: a per-run table that Spark addresses by
its parent's name, and a row for a run with no open stage has no partition to land
in. SQL Server's procedures stay free of dynamic SQL, so there a stage is the rows of
the shared table with its ``run_id``, deleted on publish.
Definitions: migrations/objects/0016/ (see sqlml/deploy/objects.py).
postgres ships: ml.spark_abandon, ml.spark_begin, ml.spark_fail, ml.spark_publish,
    ops.close_spark_stage.
mssql ships: ml.spark_abandon, ml.spark_begin, ml.spark_fail, ml.spark_publish,
    ops.close_spark_stage.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.data_loss import refuse_unless_allowed
from sqlml.deploy.ddl import current_login, is_mssql
from sqlml.deploy.objects import apply_snapshot, revert_snapshot

revision = "0016"
down_revision = "0015"

STAGE_COLUMNS = {
    "churn_scores": lambda: [
        sa.Column("customer_id", sa.Unicode(64)),
        sa.Column("churn_probability", sa.Double),
    ],
    "forecasts": lambda: [
        sa.Column("series_id", sa.Unicode(128)),
        sa.Column("period", sa.Date),
        sa.Column("step", sa.Integer),
        sa.Column("forecast", sa.Double),
        sa.Column("lower", sa.Double),
        sa.Column("upper", sa.Double),
    ],
}


def upgrade() -> None:
    if not is_mssql():
        # The object files grant EXECUTE to it (roles are cluster-wide: it may exist).
        op.execute("""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sqlml_spark') THEN
                    CREATE ROLE sqlml_spark NOLOGIN;
                END IF;
            END;
            $$""")
    op.execute(sa.schema.CreateSchema("staging"))
    op.create_table(
        "spark_stages",
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey("ops.runs.run_id"), primary_key=True,
                  autoincrement=False),
        sa.Column("kind", sa.Unicode(32), nullable=False),
        sa.Column("model_id", sa.BigInteger, sa.ForeignKey("models.registry.model_id"),
                  nullable=False),
        sa.Column("horizon", sa.Integer),
        sa.Column("created_by", sa.Unicode(128), nullable=False, server_default=current_login()),
        sa.CheckConstraint("kind IN ('churn', 'forecaster')", name="kind"),
        schema="ops",
    )
    for table, columns in STAGE_COLUMNS.items():
        run_id = sa.Column("run_id", sa.BigInteger, nullable=False)
        if is_mssql():
            op.create_table(table, run_id, *columns(), schema="staging")
            op.create_index(f"ix_{table}_run_id", table, ["run_id"], schema="staging")
        else:
            op.create_table(table, run_id, *columns(), schema="staging",
                            postgresql_partition_by="LIST (run_id)")
    apply_snapshot(revision)


def downgrade() -> None:
    refuse_unless_allowed("0016", tables=("ops.spark_stages", "staging.churn_scores",
                                          "staging.forecasts"))
    revert_snapshot(revision)
    for table in STAGE_COLUMNS:
        # On PostgreSQL this drops every open stage's partition with its parent.
        op.drop_table(table, schema="staging")
    op.drop_table("spark_stages", schema="ops")
    op.execute(sa.schema.DropSchema("staging"))
