"""Imported models: the registry's third kind, its lineage, and the table ml.predict writes.

Revision ID: 0029
Revises: 0026
Create Date: 2026-12-06

Why (issue 25): data scientists train in notebooks (scikit-learn, gradient boosting,
Keras, PyTorch) and need that model next to the data, called from a report or an
Agent job. ``ml.import_model`` registers an ONNX graph as a version of kind
``imported`` (checked at import: standard domains only, no external data, a size
bound); ``ml.predict`` scores rows with it into ``predictions.model_scores``
(``row_id`` as text, as it went in; ``score``: the positive class's probability,
the predicted class's, or the value; ``label``: the class, NULL for a regression),
which analysts read through ``predictions.scores_latest``. ``sqlml models
export|import`` moves a version between databases: ``models.registry.lineage``
keeps where it came from (source database, model id, name, version, sha256s,
exported_at), NULL for a version made here.

The scores table has the shape revisions 0013 and 0018 gave churn_scores (issue 11):
no foreign key to ops.runs (the run is checked once per batch by the procedure), and
on PostgreSQL no text-keyed btree but a BRIN index on run_id (the btrees cost three
quarters of a batch's insert); each row id once per run is the writer's guarantee
(ml.predict refuses a repeated id). On SQL Server the primary key (run_id, row_id)
stays as the clustered index, the table's own storage.

Schema only; the routines and the view ship in the objects revision that follows.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.ddl import (
    describe_columns,
    is_mssql,
    json_text,
    now,
    timestamp,
    undescribe_columns,
)

revision = "0029"
down_revision = "0026"

KINDS = "('churn', 'forecaster', 'imported')"
OLD_KINDS = "('churn', 'forecaster')"
RUN_BRIN = "ix_model_scores_run_id_brin"
# Revision 0026 describes every column of models.registry; the one added here too.
DESCRIBED = {"lineage": "Where a version moved between databases came from (JSON: source "
                        "database, model id, name, version, sha256s, exported_at); NULL for "
                        "a version made here."}
# ... and the kind, which 0026 described as "churn or forecaster." (said again on downgrade).
KIND = {"kind": "churn, forecaster or imported (an ONNX graph ml.import_model registered)."}
KIND_BEFORE = {"kind": "churn or forecaster."}


def _kinds(listed: str) -> None:
    op.drop_constraint(op.f("ck_registry_kind"), "registry", schema="models", type_="check")
    op.create_check_constraint("kind", "registry", f"kind IN {listed}", schema="models")


def upgrade() -> None:
    _kinds(KINDS)
    op.add_column("registry", sa.Column("lineage", json_text()), schema="models")
    describe_columns("models", "registry", DESCRIBED)
    undescribe_columns("models", "registry", list(KIND))  # SQL Server rewords by drop and add
    describe_columns("models", "registry", KIND)
    if is_mssql():
        op.create_check_constraint("lineage_is_json", "registry",
                                   "lineage IS NULL OR ISJSON(lineage) = 1", schema="models")
    keys = [sa.PrimaryKeyConstraint("run_id", "row_id")] if is_mssql() else []
    op.create_table(
        "model_scores",
        sa.Column("run_id", sa.BigInteger, nullable=False),
        sa.Column("model_id", sa.BigInteger, nullable=False),
        sa.Column("row_id", sa.Unicode(256), nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("label", sa.Unicode(256)),  # NULL: a regression
        sa.Column("scored_at", timestamp(), nullable=False, server_default=now()),
        *keys,
        schema="predictions",
    )
    if not is_mssql():
        op.create_index(RUN_BRIN, "model_scores", ["run_id"], schema="predictions",
                        postgresql_using="brin")


def downgrade() -> None:
    if not is_mssql():
        op.drop_index(RUN_BRIN, table_name="model_scores", schema="predictions")
    op.drop_table("model_scores", schema="predictions")
    if is_mssql():
        op.drop_constraint(op.f("ck_registry_lineage_is_json"), "registry", schema="models",
                           type_="check")
    undescribe_columns("models", "registry", list(DESCRIBED))
    op.drop_column("registry", "lineage", schema="models")
    # The old kind check cannot hold imported versions: they go, and their runs
    # (kept, as the log) no longer point at them.
    imported = "SELECT r.model_id FROM models.registry AS r WHERE r.kind = 'imported'"
    op.execute(f"DELETE FROM ops.run_drift WHERE model_id IN ({imported})")
    op.execute(f"UPDATE ops.runs SET model_id = NULL WHERE model_id IN ({imported})")
    op.execute("DELETE FROM models.registry WHERE kind = 'imported'")
    _kinds(OLD_KINDS)
    undescribe_columns("models", "registry", list(KIND_BEFORE))
    describe_columns("models", "registry", KIND_BEFORE)
