"""Schemas features, models, predictions, ops and ml; PL/Python on PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Why: every sqlml object lives in one of five schemas so that permissions can be
granted per schema: analysts read ``predictions`` views, operators execute
``ml`` procedures, nobody but the owner touches ``features`` or model blobs.
"""

import sqlalchemy as sa
from alembic import op

from sqlml.deploy.ddl import is_mssql

revision = "0001"
down_revision = None

SCHEMAS = ("features", "models", "predictions", "ops", "ml")


def upgrade() -> None:
    if not is_mssql():
        # The in-database Python of the PostgreSQL engine. Needs a superuser
        # the first time; a no-op where a DBA has created it already.
        op.execute("CREATE EXTENSION IF NOT EXISTS plpython3u")
    for schema in SCHEMAS:
        op.execute(sa.schema.CreateSchema(schema))


def downgrade() -> None:
    for schema in reversed(SCHEMAS):
        op.execute(sa.schema.DropSchema(schema))
    # plpython3u stays: an extension is database-wide and may serve others.
