"""The Resource Governor classifier of sql/mssql/20_resource_pool.sql, its rules
executed (issue 21). Babelfish has no Resource Governor (gap 4), but the function is
plain T-SQL: created here in the test database, it is called from sessions that name
themselves as SQL Agent's job steps do, and as other clients."""

from __future__ import annotations

import pyodbc
import pytest

from sqlml.deploy import tsql_batches
from sqlml.paths import project_root
from tsql_contract.tsql import tokenize

from . import cluster

pytestmark = pytest.mark.babelfish


def classifier_text() -> str:
    script = project_root() / "sql" / "mssql" / "20_resource_pool.sql"
    [text] = [t.value for t in tokenize(script.read_text())
              if t.kind == "string" and "FUNCTION dbo.sqlml_classifier" in t.value]
    return text


@pytest.fixture(scope="module")
def classifier(babelfish, bf_engine):
    with bf_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        tsql_batches.execute(connection, classifier_text())
    yield
    with bf_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS dbo.sqlml_classifier")


def group_of(babelfish, app: str) -> str:
    odbc = f"{babelfish.odbc(cluster.DATABASE)};APP={app}"
    with pyodbc.connect(odbc, autocommit=True) as connection:
        return connection.execute("SELECT dbo.sqlml_classifier()").fetchval()


@pytest.mark.parametrize("app, group", [
    ("SQLAgent - TSQL JobStep (Job 0x1A2B : Step 1)", "sqlml"),
    ("sqlml", "default"),
    ("Microsoft SQL Server Management Studio - Query", "default"),
    ("SQLAgent - Job invocation engine", "default"),
])
def test_agent_job_steps_are_governed_and_other_sessions_are_not(babelfish, classifier, app,
                                                                  group):
    assert group_of(babelfish, app) == group
