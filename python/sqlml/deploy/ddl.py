"""Column types and defaults that differ by engine, and columns and tables that several
revisions create alike, for the Alembic revisions.

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


def run_and_model() -> list[sa.Column]:
    """``run_id`` and ``model_id``, both NOT NULL foreign keys (ops.runs,
    models.registry): the run that wrote a row and the model version it used."""
    return [
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey("ops.runs.run_id"), nullable=False),
        sa.Column("model_id", sa.BigInteger, sa.ForeignKey("models.registry.model_id"),
                  nullable=False),
    ]


def create_series_table(name: str) -> None:
    """``features.<name>``: one row per series and period (``series_id``, ``period``
    DATE, ``value``, NULL when unknown), the forecaster's input tables."""
    op.create_table(
        name,
        sa.Column("series_id", sa.Unicode(128), nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("value", sa.Double),
        sa.PrimaryKeyConstraint("series_id", "period"),
        schema="features",
    )


def _quoted(text: str) -> str:
    quoted = "'" + text.replace("'", "''") + "'"
    return "N" + quoted if is_mssql() else quoted


def _column_target(schema: str, table: str, column: str) -> str:
    return (f"@level0type = N'SCHEMA', @level0name = N'{schema}', @level1type = N'TABLE', "
            f"@level1name = N'{table}', @level2type = N'COLUMN', @level2name = N'{column}'")


def describe_columns(schema: str, table: str, columns: dict[str, str]) -> None:
    """Describe the columns a revision adds to a described table (COMMENT ON;
    MS_Description on SQL Server), as revision 0026 described the rest."""
    for column, text in columns.items():
        if is_mssql():
            op.execute("EXEC sys.sp_addextendedproperty @name = N'MS_Description', "
                       f"@value = {_quoted(text)}, {_column_target(schema, table, column)}")
        else:
            op.execute(f"COMMENT ON COLUMN {schema}.{table}.{column} IS {_quoted(text)}")


def undescribe_columns(schema: str, table: str, columns: list[str]) -> None:
    """Before a downgrade drops described columns: SQL Server keeps a column's
    MS_Description in sys.extended_properties, dropped here by name (PostgreSQL's
    comment goes with the column)."""
    if is_mssql():
        for column in columns:
            op.execute("EXEC sys.sp_dropextendedproperty @name = N'MS_Description', "
                       f"{_column_target(schema, table, column)}")
