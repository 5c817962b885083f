"""The routines' manifest, and calling the public ``ml.*`` routines from Python.

:data:`ROUTINES` declares every ``ml.*`` routine once, for both engines: its
parameters (name, type per engine, default), the columns of the one result it
returns, the run type it records in ``ops.runs``, the model kind it works on, and
the owner's procedure that does its work (``ops.run_*``, the same name on both
engines). The files follow it, and tests hold them to it
(``tests/test_routine_manifest.py``): ``procedures/<engine>/ml.<name>.sql`` on both
engines, the dispatching routines (PostgreSQL's ``ops.begin_run`` and
``ops.run_call``, T-SQL's ``ops.call``), and README's table of routines. A new
routine is one :class:`Routine` here, plus the files those tests then ask for.

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
from dataclasses import dataclass

import sqlalchemy as sa

from sqlml.errors import InputError


@dataclass(frozen=True)
class SqlType:
    """One value's type as each engine declares it."""

    postgres: str
    mssql: str


TEXT = SqlType("text", "NVARCHAR(MAX)")
# A model name: 1 to 128 characters, checked by the run (ops.begin_run / ops.call)
# so that a longer one is a recorded, failed run rather than a truncation.
MODEL_NAME = SqlType("text", "NVARCHAR(4000)")
INT = SqlType("integer", "INT")
BIGINT = SqlType("bigint", "BIGINT")
BOOL = SqlType("boolean", "BIT")
STATUS = SqlType("text", "NVARCHAR(16)")

REQUIRED = object()  # a parameter without a default


@dataclass(frozen=True)
class Param:
    name: str
    type: SqlType
    default: object = REQUIRED  # None: NULL

    def default_sql(self, engine: str) -> str | None:
        """The default as ``engine`` writes it (None: the parameter is required)."""
        if self.default is REQUIRED:
            return None
        if self.default is None:
            return "NULL"
        if isinstance(self.default, bool):
            return ("TRUE" if self.default else "FALSE") if engine == "postgres" \
                else str(int(self.default))
        return str(self.default)


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType


@dataclass(frozen=True)
class Routine:
    """One ``ml.<name>`` routine, the same on both engines.

    ``run_type``: what ``ops.call`` records in ``ops.runs`` and dispatches on (None:
    the routine keeps no run through ``ops.call``); ``work``: the owner's procedure
    that run type goes to, ``ops.run_*`` on both engines; ``public``: in README's
    table and callable with :func:`call` (the Spark routines are sqlml.spark's)."""

    name: str
    params: tuple[Param, ...]
    result: tuple[Column, ...]
    run_type: str | None = None
    kind: str | None = None
    work: str | None = None
    public: bool = True
    # A constant flag the routine hands ops.call beside its own parameters, for a
    # routine that is another mode of the same run type (score_churn_preview).
    flag: str | None = None
    # PostgreSQL's caller's half, where it is not ops.call (a routine whose argument
    # cannot travel through ops.runs.params, such as a model's bytes).
    caller: str = "ops.call"

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


_TRAINED = (Column("model_id", BIGINT), Column("model_name", MODEL_NAME),
            Column("version", INT), Column("status", STATUS), Column("metrics", TEXT))
_TRAINING = (Param("model_name", MODEL_NAME), Param("input_query", TEXT, None),
             Param("options", TEXT, None), Param("activate", BOOL, True))

ROUTINES: dict[str, Routine] = {r.name: r for r in (
    Routine("train_churn_model", _TRAINING, _TRAINED,
            run_type="train_churn_model", kind="churn", work="ops.run_train"),
    Routine("score_churn",
            (Param("model_name", MODEL_NAME), Param("input_query", TEXT, None),
             Param("explain", INT, 0), Param("version", INT, None)),
            (Column("run_id", BIGINT), Column("model_id", BIGINT), Column("version", INT),
             Column("rows_scored", BIGINT)),
            run_type="score_churn", kind="churn", work="ops.run_score_churn"),
    # What-if scoring (issue 22): a score_churn run that writes no score, reason or
    # drift and returns one row per input row instead.
    Routine("score_churn_preview",
            (Param("model_name", MODEL_NAME), Param("input_query", TEXT, None),
             Param("explain", INT, 0)),
            (Column("run_id", BIGINT), Column("model_id", BIGINT), Column("version", INT),
             Column("customer_id", SqlType("text", "NVARCHAR(64)")),
             Column("churn_probability", SqlType("double precision", "FLOAT")),
             Column("reasons", SqlType("jsonb", "NVARCHAR(MAX)"))),
            run_type="score_churn", kind="churn", work="ops.run_score_churn",
            flag="preview"),
    Routine("train_forecaster", _TRAINING, _TRAINED,
            run_type="train_forecaster", kind="forecaster", work="ops.run_train"),
    Routine("forecast",
            (Param("model_name", MODEL_NAME), Param("horizon", INT, None),
             Param("input_query", TEXT, None), Param("version", INT, None)),
            (Column("run_id", BIGINT), Column("model_id", BIGINT), Column("version", INT),
             Column("rows_written", BIGINT)),
            run_type="forecast", kind="forecaster", work="ops.run_forecast"),
    # Realised performance (issue 26): labelled rows, or actuals, against one version.
    Routine("evaluate",
            (Param("model_name", MODEL_NAME), Param("input_query", TEXT, None),
             Param("version", INT, None)),
            (Column("run_id", BIGINT), Column("model_id", BIGINT), Column("version", INT),
             Column("rows", BIGINT), Column("metrics", TEXT)),
            run_type="evaluate", work="ops.run_evaluate"),
    Routine("activate_model",
            (Param("model_name", MODEL_NAME), Param("version", INT)),
            (Column("model_id", BIGINT), Column("model_name", MODEL_NAME),
             Column("version", INT), Column("status", STATUS)),
            run_type="activate_model", work="ops.run_activate"),
    # Models trained elsewhere (issue 25): ONNX bytes in, one registry row out;
    # the blob crosses as an argument, so PostgreSQL's caller's half is ops.import_call.
    Routine("import_model",
            (Param("model_name", MODEL_NAME),
             Param("model", SqlType("bytea", "VARBINARY(MAX)"), None),
             Param("options", TEXT, None), Param("activate", BOOL, True)),
            _TRAINED, run_type="import_model", kind="imported", work="ops.run_import",
            caller="ops.import_call"),
    Routine("predict",
            (Param("model_name", MODEL_NAME), Param("input_query", TEXT, None)),
            (Column("run_id", BIGINT), Column("model_id", BIGINT), Column("version", INT),
             Column("rows_scored", BIGINT)),
            run_type="predict", kind="imported", work="ops.run_predict_model"),
    Routine("runtime_info", (),
            (Column("component", SqlType("text", "NVARCHAR(64)")),
             Column("version", SqlType("text", "NVARCHAR(256)")))),
    # sqlml.spark's publishing routines (docs/spark.md): each opens, publishes or
    # closes a run of its own, whose run type is the kind's scoring one.
    Routine("spark_begin",
            (Param("kind", SqlType("text", "NVARCHAR(32)")),
             Param("model_name", SqlType("text", "NVARCHAR(128)")),
             Param("model_version", INT, None), Param("horizon", INT, None),
             Param("params", SqlType("jsonb", "NVARCHAR(MAX)"), None)),
            (Column("run_id", BIGINT), Column("model_id", BIGINT), Column("version", INT),
             Column("onnx_artifact", SqlType("bytea", "VARBINARY(MAX)")),
             Column("onnx_sha256", SqlType("text", "CHAR(64)"))),
            public=False),
    Routine("spark_publish",
            (Param("spark_run_id", BIGINT), Param("rows_in", BIGINT),
             Param("rows_expected", BIGINT)),
            (Column("run_id", BIGINT), Column("model_id", BIGINT), Column("version", INT),
             Column("rows_written", BIGINT)),
            public=False),
    Routine("spark_fail", (Param("run_id", BIGINT), Param("error", TEXT)),
            (Column("closed", BOOL),), public=False),
    Routine("spark_abandon", (Param("older_than_minutes", INT, 1440),),
            (Column("run_id", BIGINT), Column("status", STATUS)), public=False),
    # The job's check of its input query before Spark embeds it (issue 22).
    Routine("check_input_query", (Param("input_query", TEXT),), (Column("checked", BOOL),),
            public=False),
)}


PUBLIC = {name: r for name, r in ROUTINES.items() if r.public}

# Run types that no ml routine opens: the retraining check (issue 26) is a run of its
# own, opened by ops.retrain_check (the jobs' step), which calls ml routines in turn.
INTERNAL_RUN_TYPES = {"retrain_check": "ops.retrain_check"}


def statement(dialect: str, routine: str, params: dict) -> str:
    if routine not in PUBLIC:
        raise InputError(f"unknown routine ml.{routine}; known: {', '.join(PUBLIC)}")
    declared = PUBLIC[routine].param_names
    unknown = set(params) - set(declared)
    if unknown:
        raise InputError(f"ml.{routine} has no parameter {sorted(unknown)[0]!r}")
    names = [n for n in declared if n in params]
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
