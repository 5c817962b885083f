"""Issue 22, finding 3 on a T-SQL engine: an input query is exactly one query, by the
engine's parser, before ops.run_score_churn (or sqlml spark) embeds it in a statement
of its own.

The break-out below, embedded in the batch wrapper ops.run_score_churn builds, is a
valid batch of three statements whose second one writes; ops.check_input_query refuses
it without running any of it. Babelfish has no sys.dm_exec_describe_first_result_set
(SQL Server's path, which THROWs 50014 naming input_query): its own describe function
raises the parser's error, which no CATCH of Babelfish catches (gap 5), so the
refusal there is the parser's sentence.
"""

from __future__ import annotations

import pyodbc
import pytest

pytestmark = pytest.mark.babelfish

# Closes the wrapper's "FROM (", writes, and reopens a derived table the wrapper closes.
BREAK_OUT = ("SELECT 1 AS customer_id) AS q WHERE 1 = 1; "
             "INSERT INTO dbo.sqlml_break_out VALUES (1); "
             "SELECT q.* FROM (SELECT 1 AS customer_id")
# ops.run_score_churn's batch wrapper, as it builds it (the query on lines of its own).
BATCH = "SELECT q.* FROM (\n{query}\n) AS q WHERE 1 = 1"


@pytest.fixture(scope="module")
def break_out_table(bf_engine):
    with bf_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(
            "IF OBJECT_ID(N'dbo.sqlml_break_out') IS NULL CREATE TABLE dbo.sqlml_break_out (a INT)")
    yield
    with bf_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("DROP TABLE dbo.sqlml_break_out")


@pytest.fixture
def target(bf, break_out_table):
    with bf.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("DELETE FROM dbo.sqlml_break_out")
    return bf


def written(engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT COUNT(*) FROM dbo.sqlml_break_out").scalar()


def check(engine, query: str, procedure: str = "ops.check_input_query"):
    """The procedure's last result set's rows (None: none). On Babelfish each
    description comes back as a result set before it, and an error may follow one:
    every result is read, as sqlml's own caller does (sqlml.routines)."""
    connection = engine.raw_connection()
    try:
        connection.autocommit = True
        cursor = connection.cursor()
        cursor.execute(f"EXEC {procedure} @input_query = ?", (query,))
        last = None
        while True:
            if cursor.description:
                last = [tuple(row) for row in cursor.fetchall()]
            if not cursor.nextset():
                return last if procedure.startswith("ml.") else None
    finally:
        connection.close()


def test_the_break_out_is_a_batch_that_writes_when_wrapped(target):
    """Why the check exists: the wrapped text runs the caller's second statement."""
    with target.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("EXEC sp_executesql ?", (BATCH.format(query=BREAK_OUT),))
    assert written(target) == 1


@pytest.mark.parametrize("query", [
    BREAK_OUT,
    "SELECT 1 AS customer_id; INSERT INTO dbo.sqlml_break_out VALUES (1)",
    "SELECT 1 AS customer_id INSERT INTO dbo.sqlml_break_out VALUES (1)",
    "INSERT INTO dbo.sqlml_break_out VALUES (1)",
    "SELECT 1 AS customer_id) AS q; INSERT INTO dbo.sqlml_break_out VALUES (1); --",
])
@pytest.mark.parametrize("procedure", ["ops.check_input_query", "ml.check_input_query"])
def test_more_than_one_statement_is_refused_and_nothing_runs(target, query, procedure):
    with pytest.raises(pyodbc.Error, match="syntax error"):
        check(target, query, procedure)
    assert written(target) == 0


@pytest.mark.parametrize("query", [
    "SELECT 1 AS customer_id",
    "SELECT customer_id FROM (SELECT 1 AS customer_id) AS q -- a comment at the end",
    "SELECT 'a) AS q; DROP TABLE x; --' AS customer_id",
    "SELECT TOP (5) s.name AS customer_id FROM sys.schemas AS s ORDER BY s.name",
])
def test_one_query_passes(bf, query):
    assert check(bf, query) is None
    assert check(bf, query, "ml.check_input_query") == [(True,)]


def test_an_empty_query_is_refused_naming_input_query(bf):
    with pytest.raises(pyodbc.Error, match="input_query is empty"):
        check(bf, "  ")
