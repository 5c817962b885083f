"""Call the public ``ml.*`` routines from Python, the same way on both engines.

T-SQL: ``EXEC ml.score_churn @model_name = ?``. PostgreSQL:
``SELECT * FROM ml.score_churn(model_name => %(model_name)s)``. Parameters are
always bound, never formatted into the statement. Progress messages the
routine emits (NOTICE on PostgreSQL; PRINT and the external script's
STDOUT/STDERR messages on SQL Server) go to ``progress``.

On SQL Server a call runs in autocommit: the procedures open and commit their
own transactions, and ``ops.begin_run``'s row must commit on its own so that
the run is visible while it works and a failed run stays recorded after the
procedure's CATCH block rolls back. (A pyodbc connection with autocommit off
would run the call inside an implicit transaction that the final rollback ends,
taking the failed run's row with it.) The result is the procedure's last result
set: with Microsoft's ODBC driver every batch of messages before it is a result
of its own, without columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlalchemy as sa

from sqlml.errors import InputError

ROUTINES = {
    "train_churn_model": ("model_name", "input_query", "options", "activate"),
    "score_churn": ("model_name", "input_query", "explain", "version"),
    "train_forecaster": ("model_name", "input_query", "options", "activate"),
    "forecast": ("model_name", "horizon", "input_query", "version"),
    "evaluate": ("model_name", "input_query", "version"),
    "activate_model": ("model_name", "version"),
    "runtime_info": (),
}


def statement(dialect: str, routine: str, params: dict) -> str:
    if routine not in ROUTINES:
        raise InputError(f"unknown routine ml.{routine}; known: {', '.join(ROUTINES)}")
    unknown = set(params) - set(ROUTINES[routine])
    if unknown:
        raise InputError(f"ml.{routine} has no parameter {sorted(unknown)[0]!r}")
    names = [n for n in ROUTINES[routine] if n in params]
    if dialect == "mssql":
        args = ", ".join(f"@{n} = :{n}" for n in names)
        return f"EXEC ml.{routine} {args}".rstrip()
    args = ", ".join(f"{n} => :{n}" for n in names)
    return f"SELECT * FROM ml.{routine}({args})"


_DRIVER_PREFIX = re.compile(r"^(\[[^\]]*\])+\s*")


def message_text(message) -> str:
    """A pyodbc message ('[01000] (0)', '[FreeTDS][SQL Server]text') as its text."""
    text = message[1] if isinstance(message, tuple) else str(message)
    return re.sub(r"^sqlml: ", "", _DRIVER_PREFIX.sub("", text).strip())


def relay_messages(cursor, progress: Callable[[str], None] | None) -> list[dict]:
    """Read every result of an executed pyodbc cursor, relaying its messages to
    ``progress``; the rows of the last result that has columns, as dicts."""
    rows: list[dict] = []
    while True:
        for message in cursor.messages or ():
            if progress:
                progress(message_text(message))
        if cursor.description:
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        if not cursor.nextset():
            return rows


def execute_tsql(connection: sa.Connection, sql: str, args: list | tuple = (),
                 progress: Callable[[str], None] | None = None) -> list[dict]:
    """Run T-SQL (``?`` placeholders) on the connection's pyodbc cursor, reading every
    result past the messages (:func:`relay_messages`); driver errors as DBAPIError."""
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, *([list(args)] if args else []))
        return relay_messages(cursor, progress)
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, args, exc, dbapi.Error,
                                         dialect=connection.dialect) from exc
    finally:
        cursor.close()


def call(engine: sa.Engine, routine: str, progress: Callable[[str], None] | None = None,
         **params) -> list[dict]:
    """Run one routine; returns its result rows as dicts."""
    params = {k: v for k, v in params.items() if v is not None}
    sql = statement(engine.dialect.name, routine, params)
    if engine.dialect.name == "mssql":
        names = re.findall(r":(\w+)", sql)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            return execute_tsql(connection, re.sub(r":\w+", "?", sql),
                                [params[n] for n in names], progress)
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        handler = None
        if progress and engine.dialect.name == "postgresql":
            def handler(diagnostic):
                progress(re.sub(r"^sqlml: ", "", diagnostic.message_primary or ""))
            raw.add_notice_handler(handler)
        try:
            return [dict(row) for row in connection.execute(sa.text(sql), params).mappings()]
        finally:
            if handler is not None:
                raw.remove_notice_handler(handler)
