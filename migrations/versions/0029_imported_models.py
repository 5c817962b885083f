"""Imported models: the registry's third kind, its lineage, and the table ml.predict writes.

Revision ID: 0029
Revises: 0023
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

Schema only; the routines and the view ship in the objects revision that follows.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.ddl import is_mssql, json_text, now, timestamp

revision = "0029"
down_revision = "0023"

KINDS = "('churn', 'forecaster', 'imported')"
OLD_KINDS = "('churn', 'forecaster')"


def _kinds(listed: str) -> None:
    op.drop_constraint(op.f("ck_registry_kind"), "registry", schema="models", type_="check")
    op.create_check_constraint("kind", "registry", f"kind IN {listed}", schema="models")


def upgrade() -> None:
    _kinds(KINDS)
    op.add_column("registry", sa.Column("lineage", json_text()), schema="models")
    if is_mssql():
        op.create_check_constraint("lineage_is_json", "registry",
                                   "lineage IS NULL OR ISJSON(lineage) = 1", schema="models")
    op.create_table(
        "model_scores",
        # As for churn_scores: the run names its model, so no per-row foreign key to
        # the registry; the run is checked by its key.
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey("ops.runs.run_id"), nullable=False),
        sa.Column("model_id", sa.BigInteger, nullable=False),
        sa.Column("row_id", sa.Unicode(256), nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("label", sa.Unicode(256)),  # NULL: a regression
        sa.Column("scored_at", timestamp(), nullable=False, server_default=now()),
        sa.PrimaryKeyConstraint("run_id", "row_id"),
        schema="predictions",
    )
    op.create_index("ix_model_scores_row_id_run_id", "model_scores", ["row_id", "run_id"],
                    schema="predictions")


def downgrade() -> None:
    op.drop_index("ix_model_scores_row_id_run_id", table_name="model_scores",
                  schema="predictions")
    op.drop_table("model_scores", schema="predictions")
    if is_mssql():
        op.drop_constraint(op.f("ck_registry_lineage_is_json"), "registry", schema="models",
                           type_="check")
    op.drop_column("registry", "lineage", schema="models")
    op.execute("DELETE FROM models.registry WHERE kind = 'imported'")
    _kinds(OLD_KINDS)
