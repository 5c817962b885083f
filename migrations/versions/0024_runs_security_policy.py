"""ops.runs: operators read only their own runs on SQL Server too (a security policy).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06

Why: issue 21 (the second contact). On PostgreSQL, revision 0010's policy ``runs_own``
lets a member of sqlml_operator read only the runs it started (``created_by``); on SQL
Server an operator read every row of ops.runs: other people's input queries, options
and error messages. SQL Server's row-level security does the same here: an inline
predicate function and a security policy that filters ops.runs for a member of
sqlml_operator who is not db_owner to the rows whose ``created_by`` is their login.
A filter predicate also filters UPDATE and DELETE, so the procedures an operator
calls (signed, but still in the operator's context) close and fail only the
operator's own runs, which are the only ones they touch.

SCHEMABINDING ties the function to ops.runs; the policy goes first on downgrade.
Babelfish has no security policies (tests/babelfish; gap 9 of
sqlml.deploy.tsql_batches): there the revision creates nothing, and says so. PostgreSQL
has its policy since 0010: nothing to do.
"""

from alembic import op

from sqlml.deploy.ddl import is_mssql
from sqlml.deploy.objects import execute

revision = "0024"
down_revision = "0023"

PREDICATE = """CREATE FUNCTION ops.runs_visible_to(@created_by NVARCHAR(128))
RETURNS TABLE
WITH SCHEMABINDING
AS
RETURN
    SELECT 1 AS visible
    WHERE @created_by = SUSER_SNAME()
        OR IS_MEMBER(N'db_owner') = 1
        OR ISNULL(IS_ROLEMEMBER(N'sqlml_operator'), 0) = 0"""
POLICY = ("CREATE SECURITY POLICY ops.runs_own "
          "ADD FILTER PREDICATE ops.runs_visible_to(created_by) ON ops.runs "
          "WITH (STATE = ON, SCHEMABINDING = ON)")


def _babelfish() -> bool:
    if op.get_context().as_sql:
        return False  # offline: the script is for SQL Server
    from sqlml.deploy.tsql_batches import is_babelfish

    return is_babelfish(op.get_bind())


def _new_batch() -> None:
    """Offline: CREATE FUNCTION must open its batch (objects.execute closes each)."""
    ctx = op.get_context()
    separator = getattr(ctx.impl, "batch_separator", None)
    if ctx.as_sql and separator:
        ctx.impl.static_output(separator)


def upgrade() -> None:
    if not is_mssql() or _babelfish():
        return
    _new_batch()
    execute(PREDICATE)
    execute(POLICY)


def downgrade() -> None:
    if not is_mssql() or _babelfish():
        return
    _new_batch()
    execute("DROP SECURITY POLICY ops.runs_own")
    execute("DROP FUNCTION ops.runs_visible_to")
