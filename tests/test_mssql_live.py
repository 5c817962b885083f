"""The whole flow against a real SQL Server: deploy, train, score, activate, forecast, roles, jobs.

Skipped unless SQLML_MSSQL_URL names a SQL Server database (the compose stack's
`tests` service sets it: `docker compose run --rm tests`). The login must be able to
deploy (db_owner, plus sysadmin for the instance settings and SQL Agent jobs).

Everything goes through the public interface of DESIGN.md: EXEC ml.<procedure> with
named parameters, the analyst views, sqlml deploy. Test data lives in dbo tables
named sqlml_live_<random>, dropped at the end; models are named likewise, so a
shared server keeps its own models untouched. Calls run in autocommit, as SSMS and
SQL Agent make them: the procedures manage their own transactions.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import sqlml
from sqlml.connect import create_engine
from sqlml.deploy import deploy, mssql_runtime

MSSQL_URL = os.environ.get("SQLML_MSSQL_URL")
pytestmark = [
    pytest.mark.mssql,
    pytest.mark.skipif(not MSSQL_URL, reason="SQLML_MSSQL_URL is not set (docker compose "
                       "run --rm tests runs these)"),
]

RUN = uuid.uuid4().hex[:8]
CHURN_MODEL = f"live_churn_{RUN}"
FORECAST_MODEL = f"live_forecast_{RUN}"
CHURN_TABLE = f"dbo.sqlml_live_churn_{RUN}"
SERIES_TABLE = f"dbo.sqlml_live_series_{RUN}"
FEATURES = "customer_id, tenure_months, monthly_charges, contract, support_calls"


@pytest.fixture(scope="module")
def deployed() -> list[str]:
    messages: list[str] = []
    deploy(MSSQL_URL, log=messages.append)
    return messages


@pytest.fixture(scope="module")
def engine(deployed):
    base = create_engine(MSSQL_URL)
    yield base.execution_options(isolation_level="AUTOCOMMIT")
    base.dispose()


def one(engine: sa.Engine, sql: str, *params) -> dict:
    with engine.connect() as connection:
        return dict(connection.exec_driver_sql(sql, params).mappings().one())


def rows(engine: sa.Engine, sql: str, *params) -> list[dict]:
    with engine.connect() as connection:
        return [dict(r) for r in connection.exec_driver_sql(sql, params).mappings().all()]


def execute(engine: sa.Engine, sql: str, *params) -> None:
    with engine.connect() as connection:
        connection.exec_driver_sql(sql, params)


def insert_rows(engine: sa.Engine, table: str, columns: list[str], data: list[tuple]) -> None:
    # Multi-row VALUES in chunks: one round trip per chunk, under SQL Server's 2100
    # parameters and 1000 rows per statement.
    size = max(1, min(1000, 2000 // len(columns)))
    marks = "(" + ", ".join("?" * len(columns)) + ")"
    with engine.connect() as connection:
        for start in range(0, len(data), size):
            chunk = data[start:start + size]
            params = tuple(value for row in chunk for value in row)
            connection.exec_driver_sql(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                + ", ".join([marks] * len(chunk)), params,
            )


# --- deploy -------------------------------------------------------------------------


def test_deploy_installs_the_runtime_into_the_servers_python(engine):
    versions = {r["component"]: r["version"] for r in rows(engine, "EXEC ml.runtime_info")}
    assert versions["sqlml"] == sqlml.__version__
    major, minor = (int(p) for p in versions["python"].split(".")[:2])
    assert (major, minor) >= mssql_runtime.MIN_PYTHON
    for package in ("numpy", "pandas", "onnxruntime", "tensorflow"):
        assert versions[package], f"{package} is not importable in the server"
    language = one(engine, "SELECT COUNT(*) AS n FROM sys.external_languages WHERE language = ?",
                   mssql_runtime.LANGUAGE)
    assert language["n"] == 1


def test_deploy_again_changes_nothing(engine):
    before = rows(engine, "SELECT name, external_library_id FROM sys.external_libraries")
    messages: list[str] = []
    deploy(MSSQL_URL, log=messages.append)
    assert "runtime: library sqlml is current" in messages
    assert rows(engine, "SELECT name, external_library_id FROM sys.external_libraries") == before


def test_external_scripts_are_enabled(engine):
    setting = one(engine, "SELECT CAST(value_in_use AS INT) AS v FROM sys.configurations "
                          "WHERE name = 'external scripts enabled'")
    assert setting["v"] == 1


# --- churn: train, score, activate, roll back --------------------------------------


def churn_rows(n: int = 2000, seed: int = 7) -> list[tuple]:
    """Customers with a known signal: month-to-month contracts, short tenure and many
    support calls churn; 10% of monthly_charges are NULL."""
    rng = np.random.default_rng(seed)
    contracts = rng.choice(["month-to-month", "one-year", "two-year"], n, p=[0.5, 0.3, 0.2])
    tenure = rng.integers(1, 73, n)
    calls = rng.poisson(1.5, n)
    charges = rng.uniform(20, 120, n).round(2)
    logit = (-1.2 + 1.6 * (contracts == "month-to-month") - 0.04 * tenure + 0.35 * calls
             + 0.01 * (charges - 70))
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return [
        (f"C{i:06d}", int(churned[i]), int(tenure[i]),
         None if i % 10 == 0 else float(charges[i]), str(contracts[i]), int(calls[i]))
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def churn_table(engine):
    execute(engine, f"CREATE TABLE {CHURN_TABLE} (customer_id NVARCHAR(64) NOT NULL PRIMARY KEY, "
                    "churned INT NOT NULL, tenure_months INT NOT NULL, monthly_charges FLOAT NULL, "
                    "contract NVARCHAR(32) NOT NULL, support_calls INT NOT NULL)")
    insert_rows(engine, CHURN_TABLE, ["customer_id", "churned", "tenure_months",
                                      "monthly_charges", "contract", "support_calls"],
                churn_rows())
    yield CHURN_TABLE
    execute(engine, f"DROP TABLE IF EXISTS {CHURN_TABLE}")


def train_churn(engine, activate: int) -> dict:
    return one(
        engine,
        "EXEC ml.train_churn_model @model_name = ?, @input_query = ?, @options = ?, "
        "@activate = ?",
        CHURN_MODEL, f"SELECT * FROM {CHURN_TABLE}", json.dumps({"epochs": 3}), activate,
    )


@pytest.fixture(scope="module")
def churn_v1(engine, churn_table) -> dict:
    return train_churn(engine, activate=1)


@pytest.mark.slow
def test_training_registers_an_active_first_version_with_metrics(engine, churn_v1):
    assert (churn_v1["model_name"], churn_v1["version"], churn_v1["status"]) == (
        CHURN_MODEL, 1, "active"
    )
    metrics = json.loads(churn_v1["metrics"])
    assert 0.6 < metrics["auc"] <= 1 and "baseline_auc" in metrics
    run = one(engine, "SELECT TOP (1) status, rows_in FROM ops.runs WHERE run_type = "
                      "'train_churn_model' AND model_name = ? ORDER BY run_id DESC", CHURN_MODEL)
    assert run == {"status": "succeeded", "rows_in": 2000}


@pytest.mark.slow
def test_scoring_writes_one_batch_readable_from_the_analyst_view(engine, churn_v1):
    result = one(engine, "EXEC ml.score_churn @model_name = ?, @input_query = ?",
                 CHURN_MODEL, f"SELECT {FEATURES} FROM {CHURN_TABLE}")
    assert (result["model_id"], result["version"], result["rows_scored"]) == (
        churn_v1["model_id"], 1, 2000
    )
    latest = one(engine, "SELECT COUNT(*) AS n, MIN(churn_probability) AS lo, "
                         "MAX(churn_probability) AS hi, MAX(run_id) AS run_id "
                         "FROM predictions.churn_latest WHERE model_name = ?", CHURN_MODEL)
    assert latest["n"] == 2000 and 0 <= latest["lo"] <= latest["hi"] <= 1
    assert latest["run_id"] == result["run_id"]


@pytest.mark.slow
def test_a_scoring_query_without_a_feature_fails_and_writes_nothing(engine, churn_v1):
    before = one(engine, "SELECT COUNT(*) AS n FROM predictions.churn_scores")["n"]
    with pytest.raises(DBAPIError, match="tenure_months"):
        one(engine, "EXEC ml.score_churn @model_name = ?, @input_query = ?", CHURN_MODEL,
            f"SELECT customer_id, monthly_charges, contract, support_calls FROM {CHURN_TABLE}")
    assert one(engine, "SELECT COUNT(*) AS n FROM predictions.churn_scores")["n"] == before
    failed = one(engine, "SELECT TOP (1) status, error FROM ops.runs WHERE run_type = "
                         "'score_churn' AND model_name = ? ORDER BY run_id DESC", CHURN_MODEL)
    assert failed["status"] == "failed" and "tenure_months" in failed["error"]


def test_an_unknown_model_is_a_clear_error_recorded_in_ops_runs(engine):
    name = f"missing_{RUN}"
    with pytest.raises(DBAPIError, match=name):
        one(engine, "EXEC ml.score_churn @model_name = ?", name)
    assert one(engine, "SELECT status FROM ops.runs WHERE model_name = ?", name) == {
        "status": "failed"
    }


@pytest.mark.slow
def test_activate_promotes_a_candidate_and_rolls_back(engine, churn_v1):
    candidate = train_churn(engine, activate=0)
    assert (candidate["version"], candidate["status"]) == (2, "candidate")
    promoted = one(engine, "EXEC ml.activate_model @model_name = ?, @version = ?", CHURN_MODEL, 2)
    assert (promoted["version"], promoted["status"]) == (2, "active")
    active = one(engine, "SELECT version FROM models.active_models WHERE model_name = ?",
                 CHURN_MODEL)
    assert active == {"version": 2}
    one(engine, "EXEC ml.activate_model @model_name = ?, @version = ?", CHURN_MODEL, 1)
    statuses = dict(
        (r["version"], r["status"]) for r in rows(
            engine, "SELECT version, status FROM models.registry WHERE model_name = ?",
            CHURN_MODEL)
    )
    assert statuses == {1: "active", 2: "retired"}


# --- forecaster ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def series_table(engine):
    if one(engine, "SELECT OBJECT_ID(N'ml.train_forecaster') AS id")["id"] is None:
        pytest.skip("ml.train_forecaster is not deployed on this server yet")
    execute(engine, f"CREATE TABLE {SERIES_TABLE} (series_id NVARCHAR(128) NOT NULL, "
                    "period DATE NOT NULL, value FLOAT NOT NULL, PRIMARY KEY (series_id, period))")
    rng = np.random.default_rng(11)
    data = []
    for s in range(3):
        for month in range(60):
            year, m = 2020 + month // 12, month % 12 + 1
            value = 100 + 10 * s + 0.5 * month + 8 * np.sin(2 * np.pi * m / 12)
            data.append((f"S{s}", f"{year:04d}-{m:02d}-01", float(value + rng.normal(0, 1))))
    insert_rows(engine, SERIES_TABLE, ["series_id", "period", "value"], data)
    yield SERIES_TABLE
    execute(engine, f"DROP TABLE IF EXISTS {SERIES_TABLE}")


@pytest.mark.slow
def test_forecaster_trains_and_forecasts_every_series(engine, series_table):
    query = f"SELECT series_id, period, value FROM {SERIES_TABLE}"
    trained = one(engine, "EXEC ml.train_forecaster @model_name = ?, @input_query = ?, "
                          "@options = ?, @activate = 1", FORECAST_MODEL, query,
                  json.dumps({"horizon": 3, "lookback": 12, "epochs": 2, "ensemble": 1}))
    assert trained["status"] == "active" and "mase" in json.loads(trained["metrics"])
    result = one(engine, "EXEC ml.forecast @model_name = ?, @horizon = ?, @input_query = ?",
                 FORECAST_MODEL, 3, query)
    assert result["rows_written"] == 9
    latest = rows(engine, "SELECT series_id, period, step, forecast, lower, upper "
                          "FROM predictions.forecast_latest WHERE model_name = ? "
                          "ORDER BY series_id, step", FORECAST_MODEL)
    assert [(r["series_id"], r["step"]) for r in latest] == [
        (f"S{s}", step) for s in range(3) for step in (1, 2, 3)
    ]
    assert all(r["lower"] <= r["forecast"] <= r["upper"] for r in latest)
    assert str(latest[0]["period"]) == "2025-01-01"


# --- roles --------------------------------------------------------------------------


@pytest.fixture
def member(engine):
    """A user without login in one of the roles; its statements run under EXECUTE AS."""
    created = []

    def make(role: str) -> str:
        user = f"sqlml_live_{role.split('_')[1]}_{RUN}"
        execute(engine, f"CREATE USER [{user}] WITHOUT LOGIN")
        execute(engine, f"ALTER ROLE [{role}] ADD MEMBER [{user}]")
        created.append(user)
        return user

    yield make
    for user in created:
        execute(engine, f"DROP USER IF EXISTS [{user}]")


def as_user(engine, user: str, sql: str):
    with engine.connect() as connection:
        connection.exec_driver_sql(f"EXECUTE AS USER = N'{user}'")
        try:
            return connection.exec_driver_sql(sql).all()
        finally:
            connection.exec_driver_sql("REVERT")


@pytest.mark.parametrize(
    "view", ["predictions.churn_latest", "predictions.forecast_latest", "models.active_models"]
)
def test_analysts_read_the_views(engine, member, view):
    as_user(engine, member("sqlml_analyst"), f"SELECT TOP (1) * FROM {view}")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT TOP (1) artifact FROM models.registry",
        "SELECT TOP (1) * FROM features.churn_features",
        "SELECT TOP (1) * FROM predictions.churn_scores",
        "EXEC ml.runtime_info",
    ],
    ids=["model blobs", "features", "raw scores", "procedures"],
)
def test_analysts_reach_nothing_else(engine, member, sql):
    with pytest.raises(DBAPIError, match="(?i)permission"):
        as_user(engine, member("sqlml_analyst"), sql)


def test_operators_run_the_procedures_and_their_python(engine, member):
    versions = dict(as_user(engine, member("sqlml_operator"), "EXEC ml.runtime_info"))
    assert versions["sqlml"] == sqlml.__version__


def test_operators_cannot_run_python_of_their_own(engine, member):
    """Only the signed procedures run external scripts (docs/trust-mssql.md)."""
    with pytest.raises(DBAPIError, match="(?i)permission"):
        as_user(engine, member("sqlml_operator"),
                "EXEC sp_execute_external_script @language = N'sqlml_python', "
                "@script = N'OutputDataSet = InputDataSet'")


@pytest.mark.parametrize("sql", [
    "UPDATE models.registry SET status = N'active'",
    "INSERT INTO ops.runs (run_type) VALUES (N'forged')",
    "DELETE FROM predictions.churn_scores",
])
def test_operators_write_no_table_directly(engine, member, sql):
    with pytest.raises(DBAPIError, match="(?i)permission"):
        as_user(engine, member("sqlml_operator"), sql)


def test_every_ml_and_ops_procedure_is_signed(engine):
    unsigned = rows(engine, """
        SELECT SCHEMA_NAME(p.schema_id) + '.' + p.name AS name FROM sys.procedures AS p
        WHERE SCHEMA_NAME(p.schema_id) IN ('ml', 'ops') AND NOT EXISTS (
            SELECT 1 FROM sys.crypt_properties AS cp
            INNER JOIN sys.certificates AS c ON cp.thumbprint = c.thumbprint
            WHERE cp.major_id = p.object_id AND c.name = 'sqlml_procedures')""")
    assert unsigned == []


def test_public_cannot_run_external_scripts(engine):
    granted = one(engine, "SELECT COUNT(*) AS n FROM sys.database_permissions WHERE "
                          "grantee_principal_id = DATABASE_PRINCIPAL_ID('public') AND "
                          "permission_name = 'EXECUTE ANY EXTERNAL SCRIPT' AND state IN ('G','W')")
    assert granted["n"] == 0


# --- SQL Agent jobs -----------------------------------------------------------------


@pytest.fixture(scope="module")
def agent_jobs(engine) -> dict[str, dict]:
    edition = one(engine, "SELECT CAST(SERVERPROPERTY('EngineEdition') AS INT) AS e")["e"]
    if edition in (4, 5):
        pytest.skip("no SQL Server Agent on this edition")
    database = one(engine, "SELECT DB_NAME() AS d")["d"]
    jobs = rows(engine, "SELECT j.job_id, j.name, c.name AS category FROM msdb.dbo.sysjobs AS j "
                        "INNER JOIN msdb.dbo.syscategories AS c ON j.category_id = c.category_id "
                        "WHERE j.name LIKE ?", f"sqlml {database}: %")
    return {job["name"].split(": ", 1)[1]: job for job in jobs}


@pytest.mark.slow
def test_jobs_exist_with_retries_failure_step_and_schedules(engine, agent_jobs):
    expected = {
        "nightly churn scoring": ("EXEC ml.score_churn @model_name = N'churn';", 4),
        "weekly churn retraining": (
            "EXEC ml.train_churn_model @model_name = N'churn', @activate = 1;", 8),
        "monthly forecast": ("EXEC ml.forecast @model_name = N'forecast';", 16),
    }
    assert set(agent_jobs) == set(expected)
    for name, (command, freq_type) in expected.items():
        job_id = agent_jobs[name]["job_id"]
        steps = rows(engine, "SELECT step_id, command, retry_attempts, on_success_action, "
                             "on_fail_action FROM msdb.dbo.sysjobsteps WHERE job_id = ? "
                             "ORDER BY step_id", job_id)
        assert [s["step_id"] for s in steps] == [1, 2]
        assert steps[0]["command"] == command and steps[0]["retry_attempts"] >= 1
        assert (steps[0]["on_success_action"], steps[0]["on_fail_action"]) == (1, 3)
        assert "INSERT INTO ops.runs" in steps[1]["command"]
        assert steps[1]["on_success_action"] == 2  # the job still ends as failed
        schedule = one(engine, "SELECT s.freq_type FROM msdb.dbo.sysjobschedules AS js "
                               "INNER JOIN msdb.dbo.sysschedules AS s "
                               "ON js.schedule_id = s.schedule_id WHERE js.job_id = ?", job_id)
        assert schedule["freq_type"] == freq_type


def test_a_failing_job_ends_failed_with_the_failure_in_ops_runs(engine, agent_jobs):
    """Runs the forecast job for real: on a server without an active 'forecast' model
    it fails, and ops.runs must say so (from the procedure or from step 2)."""
    agent = one(engine, "SELECT COUNT(*) AS n FROM sys.dm_exec_sessions "
                        "WHERE program_name LIKE 'SQLAgent%'")
    if not agent["n"]:
        pytest.skip("SQL Server Agent is not running")
    if one(engine, "SELECT COUNT(*) AS n FROM models.active_models "
                   "WHERE model_name = 'forecast'")["n"]:
        pytest.skip("this server has an active 'forecast' model: the job would succeed")
    job = agent_jobs["monthly forecast"]
    started = one(engine, "SELECT SYSDATETIMEOFFSET() AS t")["t"]
    # Retries would make the test wait minutes; run the job once, as configured, but
    # from a copy without retries.
    execute(engine, "EXEC msdb.dbo.sp_update_jobstep @job_id = ?, @step_id = 1, "
                    "@retry_attempts = 0", job["job_id"])
    try:
        execute(engine, "EXEC msdb.dbo.sp_start_job @job_id = ?", job["job_id"])
        outcome = None
        for _ in range(90):
            time.sleep(2)
            history = rows(engine, "SELECT TOP (1) run_status FROM msdb.dbo.sysjobhistory "
                                   "WHERE job_id = ? AND step_id = 0 AND "
                                   "msdb.dbo.agent_datetime(run_date, run_time) >= "
                                   "DATEADD(SECOND, -5, CAST(? AS DATETIME2)) "
                                   "ORDER BY instance_id DESC", job["job_id"], started)
            if history:
                outcome = history[0]["run_status"]
                break
    finally:
        execute(engine, "EXEC msdb.dbo.sp_update_jobstep @job_id = ?, @step_id = 1, "
                        "@retry_attempts = 2", job["job_id"])
    assert outcome == 0, "the job must end as failed (run_status 0)"
    failed = rows(engine, "SELECT status, error FROM ops.runs WHERE run_type = 'forecast' "
                          "AND model_name = 'forecast' AND started_at >= ?", started)
    assert failed and all(r["status"] == "failed" for r in failed)
