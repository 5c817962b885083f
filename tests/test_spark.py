"""sqlml on Apache Spark, in ``local[2]`` against the embedded PostgreSQL.

One Spark session for the module. Models are trained through the procedures with
fast options; Spark then scores the same rows with the same version, and its
published run must equal the procedures' to 1e-6, with one succeeded run, no stage
left behind, and no duplicate however often a task wrote its rows.
"""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

import sql_helpers
from sql_helpers import call, count
from sqlml.demo import churn_data, series_data
from sqlml.demo.bulk import insert_frame
from sqlml.errors import SqlmlError

pyspark = pytest.importorskip("pyspark", reason="sqlml[spark] is not installed")

from sqlml import spark as sqlml_spark  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.postgres, pytest.mark.slow]  # trains churn

CHURN_FAST = json.dumps({"epochs": 3, "hidden_units": [16], "patience": 2})
FORECAST_FAST = json.dumps({"ensemble": 2, "units": 8, "epochs": 3, "patience": 2,
                            "lookback": 24, "validation_origins": 3})
CUSTOMERS = 1200
QUERY = "SELECT * FROM features.churn_features"
SERIES_QUERY = "SELECT series_id, period, value FROM features.monthly_usage"


@pytest.fixture(scope="module")
def spark(pg_url):
    session = sqlml_spark.local_session(sqlml_spark.target(pg_url), master="local[2]")
    yield session
    session.stop()


def execute(engine, sql, rows=None):
    with engine.begin() as connection:
        connection.execute(sa.text(sql), rows or {})


@pytest.fixture
def clean(db):
    """The db fixture empties ops.spark_stages (it cascades from models.registry);
    ml.spark_abandon drops the partitions it leaves behind."""
    call(db, "SELECT * FROM ml.spark_abandon(older_than_minutes => 0)")
    return db


@pytest.fixture(scope="module")
def trained_churn(pg_engine):
    """One churn version for the module, trained through the procedure once and kept
    aside; each test gets it back in a freshly emptied database."""
    frame, _ = churn_data.customers(CUSTOMERS, seed=23)
    with pg_engine.begin() as connection:
        connection.exec_driver_sql("TRUNCATE models.registry RESTART IDENTITY CASCADE")
    insert_frame(pg_engine, "features.customers", frame)
    sql_helpers.train(pg_engine, "train_churn_model", "churn", None, CHURN_FAST, True)
    execute(pg_engine, "DROP TABLE IF EXISTS public.spark_test_registry; "
                       "CREATE TABLE public.spark_test_registry AS TABLE models.registry")
    yield frame
    execute(pg_engine, "DROP TABLE public.spark_test_registry")


@pytest.fixture
def churn_model(clean, trained_churn):
    db = clean
    insert_frame(db, "features.customers", trained_churn)
    execute(db, "INSERT INTO models.registry SELECT * FROM public.spark_test_registry")
    return db


def stages_left(engine) -> int:
    partitions = ("pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n "
                  "ON n.oid = c.relnamespace")
    return count(engine, "ops.spark_stages") + count(
        engine, partitions, "n.nspname = 'staging' AND c.relispartition")


def test_spark_scores_equal_the_procedures_and_publish_one_succeeded_run(spark, pg_url,
                                                                        churn_model):
    [in_db] = call(churn_model, "SELECT * FROM ml.score_churn(model_name => 'churn')")
    run = sqlml_spark.score(spark, pg_url, "churn", QUERY,
                            partitioning=sqlml_spark.Partitioning("customer_id", partitions=3))
    assert (run.rows_in, run.rows_out, run.version) == (CUSTOMERS, CUSTOMERS, in_db["version"])

    pairs = call(churn_model, """
        SELECT d.customer_id, d.churn_probability AS in_db, s.churn_probability AS spark
        FROM predictions.churn_scores AS d
        FULL JOIN predictions.churn_scores AS s
            ON s.customer_id = d.customer_id AND s.run_id = :spark_run
        WHERE d.run_id = :db_run""", spark_run=run.run_id, db_run=in_db["run_id"])
    assert len(pairs) == CUSTOMERS
    assert all(p["spark"] is not None for p in pairs)
    assert max(abs(p["in_db"] - p["spark"]) for p in pairs) <= 1e-6

    [logged] = call(churn_model, "SELECT run_type, status, model_id, rows_in, rows_out, params "
                                 "FROM ops.runs WHERE run_id = :r", r=run.run_id)
    assert logged["run_type"] == "score_churn" and logged["status"] == "succeeded"
    assert (logged["rows_in"], logged["rows_out"]) == (CUSTOMERS, CUSTOMERS)
    assert logged["model_id"] == in_db["model_id"]
    assert logged["params"]["input_query"] == QUERY and logged["params"]["engine"] == "spark"
    assert stages_left(churn_model) == 0


FEATURE_COLUMNS = ("region, plan_tier, contract, tenure_months, internet_service, phone_service,"
                   " streaming, tech_support, payment_method, paperless_billing, monthly_charges,"
                   " total_charges, support_calls, monthly_usage_minutes, usage_change_pct")


@pytest.mark.parametrize("key, expected", [
    # 20 digits: as float64 neighbours collapse into one rounded key (issue 22).
    ("(customer_id + 12345678901234567000)::numeric(20,0)",
     lambda n: str(12345678901234567000 + n)),
    ("(customer_id + 12345678901234567000)::numeric", lambda n: str(12345678901234567000 + n)),
    ("CASE WHEN customer_id % 2 = 0 THEN ' ' ELSE '' END || customer_id::text || E'\\n'",
     lambda n: (" " if n % 2 == 0 else "") + f"{n}\n"),
])
def test_spark_keys_come_back_exactly(spark, pg_url, churn_model, key, expected):
    query = f"SELECT {key} AS customer_id, {FEATURE_COLUMNS} FROM features.churn_features"
    run = sqlml_spark.score(spark, pg_url, "churn", query)
    with churn_model.connect() as c:
        got = set(c.execute(sa.text("SELECT customer_id FROM predictions.churn_scores "
                                    "WHERE run_id = :r"), {"r": run.run_id}).scalars())
        ids = c.execute(sa.text("SELECT customer_id FROM features.customers")).scalars().all()
    assert got == {expected(int(n)) for n in ids}


def test_a_given_version_and_a_predicate_list_read(spark, pg_url, churn_model):
    predicates = [f"customer_id % 4 = {i}" for i in range(4)]
    run = sqlml_spark.score(spark, pg_url, "churn", QUERY, version=1,
                            partitioning=sqlml_spark.Partitioning(predicates=predicates))
    assert run.version == 1 and run.rows_out == CUSTOMERS
    assert count(churn_model, "predictions.churn_scores", f"run_id = {run.run_id}") == CUSTOMERS


def test_rows_a_retried_task_wrote_twice_are_published_once(churn_model):
    """What Spark's JDBC writer does when a task is retried after its commit."""
    [stage] = call(churn_model, "SELECT * FROM ml.spark_begin(kind => 'churn', "
                                "model_name => 'churn')")
    rows = [{"s": stage["run_id"], "c": str(i), "p": i / 10} for i in range(5)]
    insert = ("INSERT INTO staging.churn_scores (run_id, customer_id, churn_probability) "
              "VALUES (:s, :c, :p)")
    execute(churn_model, insert, rows)
    execute(churn_model, insert, rows[:3])  # the retried task's copy
    [published] = call(churn_model, "SELECT * FROM ml.spark_publish(spark_run_id => :s, "
                                    "rows_in => 5, rows_expected => 5)", s=stage["run_id"])
    assert published["run_id"] == stage["run_id"]
    assert published["rows_written"] == 5
    assert count(churn_model, "predictions.churn_scores",
                 f"run_id = {published['run_id']}") == 5
    assert stages_left(churn_model) == 0


@pytest.mark.parametrize("rows, expected, message", [
    ([("1", 0.1), ("1", 0.2)], 1, "two different predictions"),
    ([("1", 0.1), ("2", 0.2)], 3, "staged 2 distinct key(s), but the job expected 3"),
    ([("1", 1.5)], 1, "probability outside 0..1"),
])
def test_a_stage_that_does_not_add_up_is_refused_then_failed(churn_model, rows, expected,
                                                             message):
    [stage] = call(churn_model, "SELECT * FROM ml.spark_begin(kind => 'churn', "
                                "model_name => 'churn')")
    execute(churn_model, "INSERT INTO staging.churn_scores VALUES " + ", ".join(
        f"({stage['run_id']}, '{c}', {p})" for c, p in rows))
    with pytest.raises(sa.exc.DBAPIError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(churn_model, "SELECT * FROM ml.spark_publish(spark_run_id => :s, rows_in => :n, "
                          "rows_expected => :n)", s=stage["run_id"], n=expected)
    assert count(churn_model, "predictions.churn_scores") == 0
    [failed] = call(churn_model, "SELECT ml.spark_fail(run_id => :s, error => 'refused') AS r",
                    s=stage["run_id"])
    assert failed["r"] is True
    [run] = call(churn_model, "SELECT status, run_type, error, params FROM ops.runs "
                              "WHERE run_id = :r", r=stage["run_id"])
    assert (run["status"], run["run_type"], run["error"]) == ("failed", "score_churn", "refused")
    assert run["params"]["engine"] == "spark"
    assert stages_left(churn_model) == 0


def test_a_failing_job_leaves_a_failed_run_and_no_scores(spark, pg_url, churn_model):
    with pytest.raises(SqlmlError, match="tenure_months|column"):
        sqlml_spark.score(spark, pg_url, "churn",
                          "SELECT customer_id, plan FROM features.churn_features")
    [run] = sql_helpers.runs(churn_model)
    assert run["run_type"] == "score_churn" and run["status"] == "failed" and run["error"]
    assert count(churn_model, "predictions.churn_scores") == 0
    assert stages_left(churn_model) == 0


@pytest.mark.parametrize("query", [
    # Closes the parenthesis Spark's JDBC source opens around the query (issue 22).
    "SELECT * FROM features.churn_features) AS a; SELECT pg_catalog.setval("
    "'public.spark_probe', 42); SELECT * FROM (SELECT * FROM features.churn_features",
    "SELECT * FROM features.churn_features; SELECT pg_catalog.setval('public.spark_probe', 42)",
])
def test_a_query_that_is_not_one_query_is_refused_before_spark_reads(spark, pg_url,
                                                                      churn_model, query):
    execute(churn_model, "DROP SEQUENCE IF EXISTS public.spark_probe; "
                         "CREATE SEQUENCE public.spark_probe")
    with pytest.raises(SqlmlError, match="input_query"):
        sqlml_spark.score(spark, pg_url, "churn", query)
    with churn_model.connect() as c:
        assert c.execute(sa.text("SELECT last_value, is_called FROM public.spark_probe")
                         ).one() == (1, False)
    [run] = sql_helpers.runs(churn_model)
    assert run["status"] == "failed" and "input_query" in run["error"]
    assert count(churn_model, "predictions.churn_scores") == 0
    assert stages_left(churn_model) == 0


def test_unknown_model_and_wrong_kind_are_failed_runs_without_a_stage(spark, pg_url, churn_model):
    with pytest.raises(SqlmlError, match="model 'nope' not found"):
        sqlml_spark.score(spark, pg_url, "nope", QUERY)
    with pytest.raises(SqlmlError, match="is a churn model, not a forecaster model"):
        sqlml_spark.forecast(spark, pg_url, "churn", SERIES_QUERY)
    assert stages_left(churn_model) == 0
    assert [(r["run_type"], r["status"]) for r in sql_helpers.runs(churn_model)] == [
        ("score_churn", "failed"), ("forecast", "failed")]


def test_a_run_whose_job_never_publishes_is_abandoned_as_failed(churn_model):
    [stage] = call(churn_model, "SELECT * FROM ml.spark_begin(kind => 'churn', "
                                "model_name => 'churn')")
    [running] = sql_helpers.runs(churn_model)
    assert running["status"] == "running"
    assert call(churn_model, "SELECT * FROM ml.spark_abandon()") == []  # not a day old
    [closed] = call(churn_model, "SELECT * FROM ml.spark_abandon(older_than_minutes => 0)")
    assert (closed["run_id"], closed["status"]) == (stage["run_id"], "abandoned")
    [run] = sql_helpers.runs(churn_model)
    assert run["error"].startswith("sqlml: abandoned: Spark run")
    with pytest.raises(sa.exc.DBAPIError, match="has no open stage"):
        call(churn_model, "SELECT * FROM ml.spark_publish(spark_run_id => :r, rows_in => 0, "
                          "rows_expected => 0)", r=stage["run_id"])
    assert stages_left(churn_model) == 0


def test_a_driver_that_died_leaves_an_abandoned_run_that_abandon_closes(pg_url, churn_model):
    """The driver's JDBC session is the run's session: when it ends unpublished, the
    run log's sweep marks the run abandoned and ml.spark_abandon drops its stage."""
    driver = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    [stage] = call(driver, "SELECT * FROM ml.spark_begin(kind => 'churn', "
                           "model_name => 'churn')")
    driver.dispose()  # the session ends: the driver died
    for _ in range(50):  # its backend exits a moment after the socket closes
        if not call(churn_model, "SELECT 1 FROM pg_stat_activity AS a JOIN ops.runs AS r "
                                 "ON a.pid = r.backend_pid WHERE r.run_id = :r",
                    r=stage["run_id"]):
            break
        time.sleep(0.1)
    [closed] = call(churn_model, "SELECT * FROM ml.spark_abandon()")
    assert (closed["run_id"], closed["status"]) == (stage["run_id"], "abandoned")
    assert stages_left(churn_model) == 0


def test_a_version_whose_binding_does_not_match_is_refused(spark, pg_url, churn_model):
    execute(churn_model, "UPDATE models.registry SET onnx_binding = repeat('0', 64)")
    for version in (None, 1):
        with pytest.raises(SqlmlError, match="binding to model id, name, version and kind"):
            sqlml_spark.score(spark, pg_url, "churn", QUERY, version=version)
    assert stages_left(churn_model) == 0
    assert [r["status"] for r in sql_helpers.runs(churn_model)] == ["failed", "failed"]


def test_a_tampered_blob_is_refused_before_scoring(spark, pg_url, churn_model):
    execute(churn_model, "UPDATE models.registry SET onnx_artifact = "
                      "overlay(onnx_artifact PLACING '\\x00'::bytea FROM 200)")
    with pytest.raises(SqlmlError, match="does not match its recorded sha256"):
        sqlml_spark.score(spark, pg_url, "churn", QUERY)
    assert count(churn_model, "predictions.churn_scores") == 0
    assert [r["status"] for r in sql_helpers.runs(churn_model)] == ["failed"]


def test_spark_forecasts_equal_ml_forecast(spark, pg_url, clean):
    db = clean
    series_data.load_series(db, n_series=10, length=84, min_length=72, seed=4)
    sql_helpers.train(db, "train_forecaster", "fc", None, FORECAST_FAST, True)
    [in_db] = call(db, "SELECT * FROM ml.forecast(model_name => 'fc', horizon => 6)")
    run = sqlml_spark.forecast(spark, pg_url, "fc", SERIES_QUERY, horizon=6,
                               partitioning=sqlml_spark.Partitioning(partitions=3))
    assert (run.rows_in, run.rows_out) == (10, 60) == (10, in_db["rows_written"])
    pairs = call(db, """
        SELECT d.forecast AS a, s.forecast AS b, d.lower AS al, s.lower AS bl,
            d.step = s.step AS same
        FROM predictions.forecasts AS d
        JOIN predictions.forecasts AS s
            ON s.series_id = d.series_id AND s.period = d.period AND s.run_id = :spark_run
        WHERE d.run_id = :db_run""", spark_run=run.run_id, db_run=in_db["run_id"])
    assert len(pairs) == 60 and all(p["same"] for p in pairs)
    assert max(abs(p["a"] - p["b"]) + abs(p["al"] - p["bl"]) for p in pairs) <= 1e-6
    [logged] = call(db, "SELECT status, rows_in, rows_out FROM ops.runs WHERE run_id = :r",
                    r=run.run_id)
    assert dict(logged) == {"status": "succeeded", "rows_in": 10, "rows_out": 60}


def test_the_cli_scores_and_prints_its_run(pg_url, churn_model, capsys, spark):
    from sqlml import cli

    assert cli.main(["spark", "score", "--url", pg_url, "--model", "churn", "--query", QUERY,
                     "--partition-column", "customer_id", "--partitions", "2"]) == 0
    out = capsys.readouterr().out
    assert "rows_out" in out and str(CUSTOMERS) in out
    [run] = call(churn_model, "SELECT status, rows_out FROM ops.runs "
                              "WHERE run_type = 'score_churn'")
    assert dict(run) == {"status": "succeeded", "rows_out": CUSTOMERS}


def test_only_sqlml_spark_publishes_and_it_writes_no_table_but_its_stage(churn_model):
    [grants] = call(churn_model, """
        SELECT
            has_function_privilege('sqlml_spark', 'ml.spark_publish(bigint, bigint, bigint)',
                                   'EXECUTE') AS spark_publishes,
            has_function_privilege('sqlml_operator', 'ml.spark_publish(bigint, bigint, bigint)',
                                   'EXECUTE') AS operator_publishes,
            has_function_privilege('public', 'ml.spark_begin(text, text, integer, integer, jsonb)',
                                   'EXECUTE') AS public_begins,
            has_table_privilege('sqlml_spark', 'staging.churn_scores', 'INSERT') AS stages,
            has_table_privilege('sqlml_spark', 'predictions.churn_scores', 'INSERT') AS predicts,
            has_table_privilege('sqlml_spark', 'ops.runs', 'INSERT') AS logs,
            has_table_privilege('sqlml_spark', 'models.registry', 'SELECT') AS reads_blobs""")
    assert dict(grants) == {"spark_publishes": True, "operator_publishes": False,
                            "public_begins": False, "stages": True, "predicts": False,
                            "logs": False, "reads_blobs": False}
