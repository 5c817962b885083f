"""Model specs as data: models.specs, loaded from models/*.json by sqlml deploy.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

Why: the training procedures need each model kind's defaults (options,
limits, input contract, activation metric) inside the database, where the
embedded Python runs. Keeping them in a table (rather than baked into the
runtime) lets SQL users read them and lets a deploy update them without
reinstalling Python packages; the files under models/ stay the version-
controlled source.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.ddl import json_checks, json_text, now, timestamp

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "specs",
        sa.Column("kind", sa.Unicode(32), primary_key=True),
        sa.Column("spec", json_text(), nullable=False),
        sa.Column("spec_sha256", sa.CHAR(64), nullable=False),
        sa.Column("updated_at", timestamp(), nullable=False, server_default=now()),
        *json_checks("specs", "spec"),
        schema="models",
    )


def downgrade() -> None:
    op.drop_table("specs", schema="models")
