"""One definition each: shared steps of the routines and views move into one place.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28

Why: issue 10 asks that a step written once be written in one place. This revision
ships the routines and views whose text changed when their repeated steps were
merged; the public interface, every error number and every SQLSTATE stay as they
were. A PostgreSQL function's argument list is part of its identity, so the old
signatures of the functions whose arguments change are dropped before their new
definitions are created (and the other way round on downgrade).
Definitions: migrations/objects/0022/ (see sqlml/deploy/objects.py).
"""

from sqlml.deploy.ddl import is_mssql
from sqlml.deploy.objects import apply_snapshot, execute, revert_snapshot

revision = "0022"
down_revision = "0021"

# PostgreSQL functions whose argument lists change here: (before, after).
SIGNATURES = [
    ("ops.close_spark_stage(bigint, text, text)",
     "ops.close_spark_stage(ops.spark_stages, text, text)"),
]


def upgrade() -> None:
    if not is_mssql():
        for before, _ in SIGNATURES:
            execute(f"DROP FUNCTION IF EXISTS {before}")
    apply_snapshot(revision)


def downgrade() -> None:
    if not is_mssql():
        for _, after in SIGNATURES:
            execute(f"DROP FUNCTION IF EXISTS {after}")
    revert_snapshot(revision)
