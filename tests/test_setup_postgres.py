"""sql/postgres setup scripts: the two roles hold what they should, pg_cron jobs are idempotent.

Privileges are checked by acting as the role (SET ROLE), not only by reading the
catalog, so a grant that the catalog shows but the routines cannot use fails here.
"""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sqlml import embedded_pg
from sqlml.paths import project_root

pytestmark = pytest.mark.postgres

ANALYST_VIEWS = ("predictions.churn_latest", "predictions.churn_reasons_latest",
                 "predictions.forecast_latest", "models.active_models")
CRON_SCRIPT = project_root() / "sql" / "postgres" / "40_cron_jobs.sql"
SQLML_JOBS = {"sqlml-score-churn", "sqlml-retrain-churn", "sqlml-forecast", "sqlml-sweep-runs",
              "sqlml-retrain-check"}


def scalar(engine: sa.Engine, sql: str, **params):
    with engine.connect() as connection:
        return connection.execute(sa.text(sql), params).scalar_one()


def test_roles_exist_and_cannot_log_in(db):
    for role in ("sqlml_analyst", "sqlml_operator"):
        assert scalar(db, "SELECT rolcanlogin FROM pg_roles WHERE rolname = :r", r=role) is False


@pytest.mark.parametrize("view", ANALYST_VIEWS)
def test_analyst_reads_each_view(db, view):
    with db.connect() as connection:
        connection.exec_driver_sql("SET ROLE sqlml_analyst")
        connection.exec_driver_sql(f"SELECT * FROM {view} LIMIT 1").all()
        connection.rollback()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT artifact FROM models.registry LIMIT 1",
        "SELECT * FROM predictions.churn_scores LIMIT 1",
        "SELECT * FROM predictions.churn_reasons LIMIT 1",
        "SELECT * FROM ops.runs LIMIT 1",
        "SELECT * FROM features.churn_features LIMIT 1",
        "SELECT * FROM ml.runtime_info()",
    ],
    ids=["registry blobs", "raw scores", "raw reasons", "run log", "features", "ml routines"],
)
def test_analyst_reaches_nothing_else(db, sql):
    with db.connect() as connection:
        connection.exec_driver_sql("SET ROLE sqlml_analyst")
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            connection.exec_driver_sql(sql)
        connection.rollback()


def test_operator_runs_an_ml_routine_in_the_database_python(db):
    with db.connect() as connection:
        connection.exec_driver_sql("SET ROLE sqlml_operator")
        rows = dict(connection.exec_driver_sql("SELECT * FROM ml.runtime_info()").all())
        connection.rollback()
    assert rows["sqlml"]


def test_operator_reads_features_and_runs_but_writes_no_table(db):
    # Default input queries run with the caller's rights, hence SELECT on features;
    # every write goes through the routines (issue 8; tests/test_trust_postgres.py).
    with db.connect() as connection:
        connection.exec_driver_sql("SET ROLE sqlml_operator")
        connection.exec_driver_sql("SELECT * FROM features.churn_features LIMIT 1").all()
        connection.exec_driver_sql("SELECT * FROM ops.runs LIMIT 1").all()
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            connection.exec_driver_sql(
                "INSERT INTO ops.runs (run_type, model_name) VALUES ('probe', 'churn')")
        connection.rollback()


def _run_script(url: str, sql: str, before: str | None = None):
    """Run a setup script the way deploy does (one string), inside a transaction that is
    rolled back; returns the notices and the sqlml jobs it left in cron.job."""
    parsed = make_url(url)
    conninfo = psycopg.conninfo.make_conninfo(
        dbname=parsed.database, user=parsed.username, host=parsed.query["host"],
        port=parsed.query.get("port"),
    )
    notices: list[str] = []
    with psycopg.connect(conninfo) as connection:
        connection.add_notice_handler(lambda diag: notices.append(diag.message_primary))
        try:
            if before:
                connection.execute(before)
            connection.execute(sql)
            jobs = []
            if connection.execute(
                "SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'"
            ).fetchone():
                jobs = connection.execute(
                    "SELECT jobname, schedule, command, database, active FROM cron.job "
                    "WHERE jobname LIKE 'sqlml-%' AND username = current_user ORDER BY jobname"
                ).fetchall()
            return notices, jobs
        finally:
            connection.rollback()


def test_cron_jobs_skip_databases_pg_cron_does_not_run_in(pg_url):
    notices, jobs = _run_script(pg_url, CRON_SCRIPT.read_text())
    assert jobs == []
    assert any("no jobs scheduled in database" in n for n in notices), notices


@pytest.fixture
def cron_database_url(server_url):
    """The embedded engine's own database: the one pg_cron runs in (cron.database_name).
    The tests below only touch it inside transactions they roll back."""
    engine = sa.create_engine(server_url)
    try:
        configured = scalar(engine, "SELECT current_setting('cron.database_name', true)")
    finally:
        engine.dispose()
    if configured != embedded_pg.DATABASE:
        pytest.skip("pg_cron is not preloaded by this embedded engine")
    return server_url


def test_cron_jobs_call_the_public_routines_on_their_schedules(cron_database_url):
    _, jobs = _run_script(cron_database_url, CRON_SCRIPT.read_text())
    by_name = {job[0]: job for job in jobs}
    assert set(by_name) == SQLML_JOBS
    assert by_name["sqlml-score-churn"][1:3] == (
        "0 2 * * *", "SELECT * FROM ml.score_churn(model_name => 'churn')"
    )
    assert "activate => true" in by_name["sqlml-retrain-churn"][2]
    assert by_name["sqlml-forecast"][1] == "0 4 1 * *"
    # The retraining check is created inactive, for a DBA to set its window and margins.
    assert "ops.retrain_check(model_name => 'churn'" in by_name["sqlml-retrain-check"][2]
    assert all(job[3] == embedded_pg.DATABASE and job[4] is (name != "sqlml-retrain-check")
               for name, job in by_name.items())


def test_cron_jobs_are_idempotent_keep_a_disabled_job_and_drop_retired_ones(
    cron_database_url,
):
    script = CRON_SCRIPT.read_text()
    before = (
        script
        + "; SELECT cron.alter_job(jobid, active => false) FROM cron.job"
        " WHERE jobname = 'sqlml-forecast' AND username = current_user"
        "; SELECT cron.schedule('sqlml-retired', '0 5 * * *', 'SELECT 1')"
    )
    _, jobs = _run_script(cron_database_url, script, before=before)
    assert [job[0] for job in jobs] == sorted(SQLML_JOBS)
    assert {job[0]: job[4] for job in jobs}["sqlml-forecast"] is False
