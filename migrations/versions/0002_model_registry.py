"""Model registry: every trained version with its artifacts, metrics and status.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Why: models are data. Keeping every version (serialised Keras and ONNX blobs,
their sha256, the spec, validation metrics beside the baseline's) in a table
lets SQL activate, compare and roll back models, and lets scoring procedures
read the active version in the same transaction that writes predictions.
At most one version per model name is active: a filtered (SQL Server) or
partial (PostgreSQL) unique index enforces it.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.data_loss import refuse_unless_allowed
from sqlml.deploy.ddl import blob, current_login, json_checks, json_text, long_text, now, timestamp

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "registry",
        sa.Column("model_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("model_name", sa.Unicode(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.Unicode(32), nullable=False),
        sa.Column("status", sa.Unicode(16), nullable=False, server_default="candidate"),
        sa.Column("status_reason", long_text()),
        sa.Column("artifact", blob(), nullable=False),
        sa.Column("artifact_sha256", sa.CHAR(64), nullable=False),
        sa.Column("onnx_artifact", blob(), nullable=False),
        sa.Column("onnx_sha256", sa.CHAR(64), nullable=False),
        sa.Column("spec", json_text(), nullable=False),
        sa.Column("metrics", json_text(), nullable=False),
        sa.Column("feature_schema", json_text(), nullable=False),
        sa.Column("trained_rows", sa.BigInteger, nullable=False),
        sa.Column("training_seconds", sa.Double, nullable=False),
        sa.Column("device", sa.Unicode(256), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False, server_default=now()),
        sa.Column("created_by", sa.Unicode(128), nullable=False, server_default=current_login()),
        sa.Column("activated_at", timestamp()),
        sa.UniqueConstraint("model_name", "version"),
        sa.CheckConstraint("status IN ('candidate', 'active', 'retired')", name="status"),
        sa.CheckConstraint("kind IN ('churn', 'forecaster')", name="kind"),
        sa.CheckConstraint("version >= 1", name="version"),
        *json_checks("registry", "spec", "metrics", "feature_schema"),
        schema="models",
    )
    op.create_index(
        "ux_registry_one_active",
        "registry",
        ["model_name"],
        unique=True,
        schema="models",
        postgresql_where=sa.text("status = 'active'"),
        mssql_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    refuse_unless_allowed("0002", tables=("models.registry",))
    op.drop_index("ux_registry_one_active", table_name="registry", schema="models")
    op.drop_table("registry", schema="models")
