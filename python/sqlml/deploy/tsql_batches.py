"""How deploy hands a T-SQL batch to SQL Server (and to Babelfish, which tests use).

Every batch deploy runs (a procedure, a view, a setup script) is preceded on its
connection by ``SET ANSI_NULLS ON; SET QUOTED_IDENTIFIER ON;``. SQL Server stores
both settings with each procedure when it is created; one created with either
off fails when it writes to a table with a filtered index (models.registry's one
active version per name, Msg 1934), and some clients (sqlcmd without ``-I``,
old drivers) connect with QUOTED_IDENTIFIER off.

Babelfish for PostgreSQL, the T-SQL engine of the ``babelfish`` tests, has no
``CREATE OR ALTER`` (gap 1 of ../shared/babelfish/README.md): on it, and only on
it, ``CREATE OR ALTER PROCEDURE|VIEW x`` runs as ``DROP ... IF EXISTS x`` and
``CREATE ... x`` (and ``ALTER COLUMN ... NOT NULL``, gap 8, loses its NOT NULL).
This is the one place such translations live; a SQL Server gets the text unchanged.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

# ../shared/babelfish/README.md, "Gaps": SQL Server behaviour Babelfish 4.3 lacks.
BABELFISH_GAPS = {
    1: "Babelfish gap 1: no CREATE OR ALTER",
    2: "Babelfish gap 2: FORMAT() takes only standard numeric formats",
    3: "Babelfish gap 3: INSERT ... EXEC ... WITH RESULT SETS is a syntax error",
    4: "Babelfish gap 4: no sp_execute_external_script, external languages or libraries, "
       "RECONFIGURE, resource governor, SQL Agent, or database-level grants",
    5: "Babelfish gap 5: TRY/CATCH misses run-time 'procedure does not exist' and syntax "
       "errors; lock hints are ignored",
    # Found by the babelfish tests, not (yet) in the README's list.
    6: "Babelfish gap 6: no CREATE CERTIFICATE or ADD SIGNATURE (module signing)",
    8: "Babelfish gap 8: no NOT NULL in ALTER TABLE ... ALTER COLUMN",
    7: "Babelfish gap 7: no ownership chaining between procedures (a procedure's EXEC "
       "of another is checked against the caller's rights)",
    9: "Babelfish gap 9: no CREATE SECURITY POLICY (row-level security)",
    10: "Babelfish gap 10: INSERT ... EXEC nests (no Msg 8164), and EXEC of a variable "
        "or an N'' literal in parentheses is a syntax error inside a procedure",
}
# The setup scripts deploy skips on Babelfish, with the gap that stops each.
BABELFISH_SKIPS = {
    "10_external_scripts.sql": BABELFISH_GAPS[4],
    "20_resource_pool.sql": BABELFISH_GAPS[4],
    "35_signing.sql": BABELFISH_GAPS[6],
    "40_agent_jobs.sql": BABELFISH_GAPS[4],
}
SESSION_OPTIONS = "SET ANSI_NULLS ON; SET QUOTED_IDENTIFIER ON;"
_CREATE_OR_ALTER = re.compile(
    r"\bCREATE\s+OR\s+ALTER\s+(PROCEDURE|PROC|VIEW|FUNCTION|TRIGGER)\s+([\w.\[\]\"]+)",
    re.IGNORECASE,
)
_ALTER_COLUMN_NOT_NULL = re.compile(r"^(\s*ALTER\s+TABLE\s+\S+\s+ALTER\s+COLUMN\s+.*?)\s+NOT\s+NULL"
                                    r"(?=\s*;?\s*$)", re.IGNORECASE | re.DOTALL)
_INFO = "sqlml_is_babelfish"
_RAW = {"no_parameters": True}


def is_babelfish(connection: sa.Connection) -> bool:
    """Whether the server is Babelfish (its @@VERSION says so); asked once per connection."""
    info = connection.connection.info
    if _INFO not in info:
        version = connection.exec_driver_sql("SELECT @@VERSION").scalar() or ""
        info[_INFO] = "Babelfish" in version
    return info[_INFO]


def babelfish_batches(sql: str) -> list[str]:
    """Gap 1: ``CREATE OR ALTER`` as ``DROP ... IF EXISTS`` + ``CREATE``. Gap 8:
    ``ALTER COLUMN ... NOT NULL`` without ``NOT NULL`` (on Babelfish the primary key
    that every such column of ours gets back right after makes it NOT NULL again)."""
    if _ALTER_COLUMN_NOT_NULL.search(sql):
        return [_ALTER_COLUMN_NOT_NULL.sub(r"\1", sql)]
    match = _CREATE_OR_ALTER.search(sql)
    if not match:
        return [sql]
    kind = "PROCEDURE" if match.group(1).upper() == "PROC" else match.group(1).upper()
    create = sql[: match.start()] + f"CREATE {kind} {match.group(2)}" + sql[match.end():]
    return [f"DROP {kind} IF EXISTS {match.group(2)}", create]


def _altered_view(sql: str) -> str | None:
    match = _CREATE_OR_ALTER.search(sql)
    return match.group(2) if match and match.group(1).upper() == "VIEW" else None


def _descriptions(connection: sa.Connection, view: str) -> list[tuple[str | None, str]]:
    """Gap 1, continued: a view dropped and created again loses its MS_Description
    properties (SQL Server's ALTER VIEW keeps them, and revisions that described a
    view drop them on downgrade), so the translation reads them first."""
    return [tuple(r) for r in connection.exec_driver_sql(
        "SELECT c.name, CAST(p.value AS NVARCHAR(4000)) FROM sys.extended_properties AS p "
        "LEFT JOIN sys.columns AS c ON c.object_id = p.major_id AND c.column_id = p.minor_id "
        "WHERE p.major_id = OBJECT_ID(?) AND p.name = N'MS_Description'", (view,)).all()]


def _describe(connection: sa.Connection, view: str, column: str | None, text: str) -> None:
    schema, name = view.replace("[", "").replace("]", "").split(".")
    target = (f"@level0type = N'SCHEMA', @level0name = N'{schema}', "
              f"@level1type = N'VIEW', @level1name = N'{name}'")
    if column:
        exists = connection.exec_driver_sql(
            "SELECT COUNT(*) FROM sys.columns WHERE object_id = OBJECT_ID(?) AND name = ?",
            (view, column)).scalar()
        if not exists:
            return
        target += f", @level2type = N'COLUMN', @level2name = N'{column}'"
    connection.exec_driver_sql(
        f"EXEC sys.sp_addextendedproperty @name = N'MS_Description', @value = ?, {target}",
        (text,))


def signing_statement(procedure: str) -> str:
    """Re-sign a procedure of ml or ops once (ALTER drops its signature), where
    sql/mssql/35_signing.sql has created the certificate."""
    return (
        "IF EXISTS (SELECT 1 FROM sys.certificates WHERE name = N'sqlml_procedures') "
        f"ADD SIGNATURE TO {procedure} BY CERTIFICATE sqlml_procedures;"
    )


def signed_procedure(sql: str) -> str | None:
    """The ml or ops procedure a batch creates (and deploy must sign), if any."""
    match = _CREATE_OR_ALTER.search(sql)
    if not match or match.group(1).upper() not in ("PROCEDURE", "PROC"):
        return None
    name = match.group(2)
    return name if name.replace("[", "").lower().split(".")[0] in ("ml", "ops") else None


def execute(connection: sa.Connection, sql: str) -> None:
    """Run one T-SQL batch verbatim (no bind-parameter parsing), with the session
    options, and sign the procedure it creates."""
    connection.exec_driver_sql(SESSION_OPTIONS, execution_options=_RAW)
    babelfish = is_babelfish(connection)
    view = _altered_view(sql) if babelfish else None
    kept = _descriptions(connection, view) if view else []
    for batch in babelfish_batches(sql) if babelfish else [sql]:
        connection.exec_driver_sql(batch, execution_options=_RAW)
    for column, text in kept:
        _describe(connection, view, column, text)
    procedure = signed_procedure(sql)
    if procedure and not babelfish:  # Babelfish: gap 6
        connection.exec_driver_sql(signing_statement(procedure), execution_options=_RAW)



def run_script(connection: sa.Connection, text: str, log) -> None:
    """A setup script (sql/mssql/NN_*.sql) as one batch, its PRINTs into ``log``."""
    from sqlml.routines import execute_tsql

    execute_tsql(connection, SESSION_OPTIONS)
    execute_tsql(connection, text, progress=log)
