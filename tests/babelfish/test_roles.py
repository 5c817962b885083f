"""The roles of sql/mssql/30_roles.sql, tried as their members would try them.

Babelfish enforces object and schema permissions, so every refusal is proven here;
what an operator may do through a procedure needs ownership chaining (gap 7) and
module signing (gap 6), which only a SQL Server proves (scripts/mssql_smoke.py).
"""

from __future__ import annotations

import uuid

import pyodbc
import pytest

from sqlml.deploy.tsql_batches import BABELFISH_GAPS
from sqlml.paths import project_root

pytestmark = pytest.mark.babelfish

PASSWORD = "Member_pw1"


@pytest.fixture(scope="module")
def members(babelfish, bf_engine):
    """A login and user per role (and one in no role), each connected in autocommit."""
    # As deploy leaves them: its setup scripts run after the objects are created (on
    # Babelfish, gap 1's DROP + CREATE drops a view's grants, as other tests here do).
    # A session of its own: see the engine.dispose() after the migrations in deploy.
    admin = pyodbc.connect(babelfish.odbc(), autocommit=True)
    admin.execute((project_root() / "sql/mssql/30_roles.sql").read_text())
    suffix = uuid.uuid4().hex[:6]
    cursors = {}
    for role in ("sqlml_operator", "sqlml_analyst", None):
        name = f"{(role or 'nobody').removeprefix('sqlml_')}_{suffix}"
        admin.execute(f"CREATE LOGIN {name} WITH PASSWORD = '{PASSWORD}'")
        admin.execute(f"CREATE USER {name} FOR LOGIN {name}")
        if role:
            admin.execute(f"ALTER ROLE {role} ADD MEMBER {name}")
        odbc = babelfish.odbc().replace("UID=sqlml_admin;PWD=Sqlml_pw1",
                                        f"UID={name};PWD={PASSWORD}")
        cursors[role or "public"] = pyodbc.connect(odbc, autocommit=True).cursor()
    yield cursors
    admin.close()


def refused(cursor, sql: str) -> bool:
    try:
        cursor.execute(sql)
    except pyodbc.Error as exc:
        return "permission denied" in str(exc)
    return False


WRITES = [
    "INSERT INTO ops.runs (run_type) VALUES (N'forged')",
    "UPDATE ops.runs SET status = N'succeeded'",
    "DELETE FROM ops.runs",
    "UPDATE models.registry SET status = N'active'",
    "DELETE FROM models.registry",
    "DELETE FROM predictions.churn_scores",
    "INSERT INTO predictions.churn_reasons (run_id, customer_id, rank, feature, contribution) "
    "VALUES (1, N'c', 1, N'f', 0.5)",
    "INSERT INTO predictions.forecasts (run_id, model_id, series_id, period, step, forecast) "
    "VALUES (1, 1, N's', '2026-01-01', 1, 1.0)",
]


@pytest.mark.parametrize("sql", WRITES, ids=lambda s: " ".join(s.split()[:3]))
def test_operator_writes_no_table_directly(members, sql):
    assert refused(members["sqlml_operator"], sql)


def test_operator_cannot_execute_ops_procedures(members):
    assert refused(members["sqlml_operator"],
                   "DECLARE @r BIGINT; EXEC ops.begin_run @run_type = N'x', "
                   "@model_name = N'x', @params = NULL, @run_id = @r OUTPUT")


def test_operator_reads_features_models_predictions(members):
    cursor = members["sqlml_operator"]
    for table in ("features.customers", "models.registry", "predictions.churn_scores",
                  "ops.runs"):
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        assert cursor.fetchone()[0] >= 0


@pytest.mark.xfail(strict=True, reason=BABELFISH_GAPS[7])
def test_operator_runs_an_ml_procedure(bf, members):
    cursor = members["sqlml_operator"]
    with pytest.raises(pyodbc.Error, match="has no version"):
        cursor.execute("EXEC ml.activate_model @model_name = N'none', @version = 1")


def test_analyst_reads_only_the_views(members):
    cursor = members["sqlml_analyst"]
    for view in ("predictions.churn_latest", "predictions.churn_reasons_latest",
                 "predictions.forecast_latest", "models.active_models"):
        cursor.execute(f"SELECT COUNT(*) FROM {view}")
        assert cursor.fetchone()[0] >= 0
    for table in ("features.customers", "models.registry", "ops.runs",
                  "predictions.churn_scores", "predictions.churn_reasons"):
        assert refused(cursor, f"SELECT COUNT(*) FROM {table}"), table
    assert refused(cursor, "EXEC ml.activate_model @model_name = N'x', @version = 1")


def test_public_gets_nothing(members):
    cursor = members["public"]
    for table in ("features.customers", "models.registry", "ops.runs",
                  "predictions.churn_latest", "predictions.churn_reasons_latest",
                  "predictions.churn_reasons", "models.active_models"):
        assert refused(cursor, f"SELECT COUNT(*) FROM {table}"), table
    assert refused(cursor, "EXEC ml.activate_model @model_name = N'x', @version = 1")
