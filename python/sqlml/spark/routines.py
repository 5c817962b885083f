"""The publishing routines, called from the Spark driver over JDBC.

The driver talks to the database through the same JDBC driver and URL as the
executors (``java.sql.DriverManager`` in the driver's JVM), so a cluster needs no
ODBC driver or psycopg. Each call is its own transaction (autocommit), as each
routine is one on both engines: ``ml.spark_begin`` opens the run and its stage,
``ml.spark_publish`` publishes the stage and finishes the run, ``ml.spark_fail``
fails it. The connection stays open from begin to publish: the run's session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlml.errors import SqlmlError

# (PostgreSQL, SQL Server) text of each call; parameters are bound, never formatted in.
STATEMENTS = {
    "begin": (
        "SELECT run_id, model_id, version, onnx_artifact, onnx_sha256 "
        "FROM ml.spark_begin(kind => ?::text, model_name => ?::text, model_version => ?::integer, "
        "horizon => ?::integer, params => ?::jsonb)",
        "EXEC ml.spark_begin @kind = ?, @model_name = ?, @model_version = ?, @horizon = ?, "
        "@params = ?",
    ),
    "publish": (
        "SELECT run_id, model_id, version, rows_written "
        "FROM ml.spark_publish(spark_run_id => ?::bigint, rows_in => ?::bigint, "
        "rows_expected => ?::bigint)",
        "EXEC ml.spark_publish @spark_run_id = ?, @rows_in = ?, @rows_expected = ?",
    ),
    "fail": (
        "SELECT ml.spark_fail(run_id => ?::bigint, error => ?::text) AS closed",
        "EXEC ml.spark_fail @run_id = ?, @error = ?",
    ),
    # Exactly one query, by the engine's parser, before Spark embeds it (issue 22).
    "check": (
        "SELECT ml.check_input_query(input_query => ?::text) AS checked",
        "EXEC ml.check_input_query @input_query = ?",
    ),
    "bounds": (
        "SELECT min(q.{column}), max(q.{column}) FROM (\n{query}\n) AS q",
        "SELECT MIN(q.{column}), MAX(q.{column}) FROM (\n{query}\n) AS q",
    ),
}


def statement(engine: str, name: str) -> str:
    postgres, mssql = STATEMENTS[name]
    return postgres if engine == "postgres" else mssql


@dataclass(frozen=True)
class Stage:
    run_id: int
    model_id: int
    version: int
    onnx_artifact: bytes
    onnx_sha256: str


@dataclass(frozen=True)
class Published:
    run_id: int
    model_id: int
    version: int
    rows_written: int


class JdbcSession:
    """One JDBC connection in the Spark driver's JVM, for the publishing routines."""

    def __init__(self, spark, found):
        jvm = spark.sparkContext._jvm
        self.engine = found.engine
        props = jvm.java.util.Properties()
        for key, value in found.properties.items():
            props.setProperty(key, str(value))
        # The jar arrives through spark.jars, in Spark's class loader, which
        # DriverManager does not search: connect through the driver class itself.
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        driver = jvm.java.lang.Class.forName(found.driver, True, loader).newInstance()
        self._connection = driver.connect(found.url, props)
        self._connection.setAutoCommit(True)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> JdbcSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def query(self, sql: str, *params) -> list[tuple]:
        with_statement = self._connection.prepareStatement(sql)
        try:
            for i, value in enumerate(params, start=1):
                _bind(with_statement, i, value)
            has_rows = with_statement.execute()
            # SQL Server: skip update counts to the procedure's result set.
            while not has_rows and with_statement.getUpdateCount() != -1:
                has_rows = with_statement.getMoreResults()
            if not has_rows:
                return []
            result = with_statement.getResultSet()
            width = result.getMetaData().getColumnCount()
            rows = []
            while result.next():
                rows.append(tuple(_value(result, c) for c in range(1, width + 1)))
            return rows
        finally:
            with_statement.close()

    def begin(self, kind: str, model_name: str, version: int | None, horizon: int | None,
              params: dict) -> Stage:
        [row] = self.query(statement(self.engine, "begin"), kind, model_name, version, horizon,
                           json.dumps(params, sort_keys=True))
        run_id, model_id, found_version, blob, sha = row
        return Stage(int(run_id), int(model_id), int(found_version), bytes(blob),
                     str(sha).strip())

    def publish(self, run_id: int, rows_in: int, rows_expected: int) -> Published:
        [row] = self.query(statement(self.engine, "publish"), run_id, rows_in, rows_expected)
        return Published(*(int(v) for v in row))

    def fail(self, run_id: int, error: str) -> bool:
        rows = self.query(statement(self.engine, "fail"), run_id, error[:4000])
        return bool(rows and rows[0][0])

    def check_query(self, query: str) -> None:
        """Refuse, by the database's parser, a query that is not exactly one query:
        Spark runs it inside ``SELECT ... FROM (<query>) AS sqlml_input``."""
        self.query(statement(self.engine, "check"), query)

    def bounds(self, query: str, column: str) -> tuple:
        [row] = self.query(statement(self.engine, "bounds").format(column=column, query=query))
        return row


JAVA_SQL_TYPES_VARCHAR = 12  # java.sql.Types.VARCHAR: both engines convert a NULL of it


def _bind(stmt, index: int, value) -> None:
    if value is None:
        stmt.setNull(index, JAVA_SQL_TYPES_VARCHAR)
    elif isinstance(value, bool):
        stmt.setBoolean(index, value)
    elif isinstance(value, int):
        stmt.setLong(index, value)
    else:
        stmt.setString(index, str(value))


def _value(result, column: int):
    value = result.getObject(column)
    if value is None:
        return None
    name = value.getClass().getName() if hasattr(value, "getClass") else ""
    if name in ("java.math.BigDecimal", "java.sql.Date", "java.sql.Timestamp",
                "java.time.OffsetDateTime"):
        return str(value.toString())
    return value


def database_error(exc: Exception) -> SqlmlError:
    """A py4j-wrapped SQLException as sqlml's error, keeping the database's sentence."""
    message = str(exc)
    java = getattr(exc, "java_exception", None)
    if java is not None:
        message = str(java.getMessage())
    return SqlmlError(message.strip())
