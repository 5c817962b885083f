"""Column types and defaults that differ by engine, for the Alembic revisions.

Released revisions depend on what these return, so change nothing here that
an old revision uses: add a new helper instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql, postgresql


def is_mssql() -> bool:
    return op.get_context().dialect.name == "mssql"


def long_text() -> sa.types.TypeEngine:
    """TEXT on PostgreSQL, NVARCHAR(MAX) on SQL Server (never the deprecated NTEXT)."""
    return sa.UnicodeText().with_variant(mssql.NVARCHAR("max"), "mssql")


def blob() -> sa.types.TypeEngine:
    """BYTEA on PostgreSQL, VARBINARY(MAX) on SQL Server (never the deprecated IMAGE)."""
    return sa.LargeBinary().with_variant(mssql.VARBINARY("max"), "mssql")


def json_text() -> sa.types.TypeEngine:
    """JSON documents: JSONB on PostgreSQL, NVARCHAR(MAX) (with an ISJSON check) on SQL Server."""
    return long_text().with_variant(postgresql.JSONB(), "postgresql")


def json_checks(table: str, *columns: str) -> list[sa.CheckConstraint]:
    """SQL Server has no JSON type: hold NVARCHAR(MAX) JSON columns to ISJSON."""
    if not is_mssql():
        return []
    return [
        sa.CheckConstraint(f"{col} IS NULL OR ISJSON({col}) = 1", name=f"{col}_is_json")
        for col in columns
    ]


def timestamp() -> sa.types.TypeEngine:
    """TIMESTAMPTZ on PostgreSQL, DATETIMEOFFSET on SQL Server."""
    return sa.DateTime(timezone=True)


def now() -> sa.TextClause:
    return sa.text("SYSDATETIMEOFFSET()" if is_mssql() else "now()")


def current_login() -> sa.TextClause:
    return sa.text("SUSER_SNAME()" if is_mssql() else "CURRENT_USER")
