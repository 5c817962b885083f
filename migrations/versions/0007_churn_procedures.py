"""Churn procedures: ml.train_churn_model, ml.score_churn, ml.activate_model.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

Why: the first model of the mission, trained and scored inside the database
through the public SQL interface of DESIGN.md, with the shared plumbing every
ml procedure uses: run bookkeeping (ops.begin_run / finish_run / fail_run),
registration with the activation rule (ops.register_model), active-model
lookup (ops.active_model), and the one training body every model kind shares
(ops.train_model, with ops.train_py as its PL/Python half on PostgreSQL;
ml.train_churn_model and, from 0009, ml.train_forecaster only name their kind).
Its snapshot was amended in place before the first release (see "Released" in
sqlml/deploy/objects.py) when ops.train_model took over the training body.

PostgreSQL only: dblink lets ops.fail_run record a failed run from a second
session, the nearest thing PostgreSQL has to an autonomous transaction; and two
row types give the procedures result columns named like their parameters
(model_name, version), which RETURNS TABLE cannot.
Definitions: migrations/objects/0007/ (see sqlml/deploy/objects.py).
postgres ships: ml.activate_model, ml.score_churn, ml.train_churn_model,
    ops.active_model, ops.begin_run, ops.churn_score_py, ops.conninfo_quote,
    ops.fail_run, ops.finish_run, ops.register_model, ops.reraise, ops.train_model,
    ops.train_py.
mssql ships: ml.activate_model, ml.score_churn, ml.train_churn_model, ops.active_model,
    ops.begin_run, ops.fail_run, ops.finish_run, ops.register_model, ops.train_model.
"""

from alembic import op

from sqlml.deploy.ddl import is_mssql
from sqlml.deploy.objects import apply_snapshot, revert_snapshot

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    if not is_mssql():
        op.execute("CREATE EXTENSION IF NOT EXISTS dblink WITH SCHEMA public")
        op.execute(
            "CREATE TYPE ml.trained_model AS (model_id bigint, model_name text, "
            "version integer, status text, metrics text)"
        )
        op.execute(
            "CREATE TYPE ml.model_state AS (model_id bigint, model_name text, "
            "version integer, status text)"
        )
    apply_snapshot(revision)


def downgrade() -> None:
    revert_snapshot(revision)
    if not is_mssql():
        op.execute("DROP TYPE ml.model_state")
        op.execute("DROP TYPE ml.trained_model")
        # dblink stays, like plpython3u: extensions are database-wide.
