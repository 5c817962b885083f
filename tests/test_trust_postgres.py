"""Issue 8's trust boundaries on PostgreSQL, tried the way a hostile operator would.

Each test names the finding it holds:
1 the runtime location is the owner's alone; 2 operators act only through the
routines, which read with the caller's rights; 3 a model blob is bound to its
model and version; 4 PUBLIC executes nothing, after any migration round trip;
5 every call leaves a run, and runs leak no data; 6 bounded work.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import sql_helpers
from sql_helpers import CHURN_FAST as FAST
from sql_helpers import call, count, load_customers, runs
from sql_helpers import train_churn as train
from sqlml.deploy import migrate

pytestmark = pytest.mark.postgres

CUSTOMERS = 600
SCORE = "SELECT * FROM ml.score_churn(model_name => :name, input_query => :query)"


@pytest.fixture
def customers(db):
    return load_customers(db, CUSTOMERS, seed=5)


def as_role(engine, sql, role="sqlml_operator", **params):
    """Run one statement as ``role`` (SET ROLE), in a transaction rolled back after."""
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SET ROLE {role}")
        try:
            return connection.execute(sa.text(sql), params).all()
        finally:
            connection.rollback()


@pytest.fixture
def login(pg_url, db):
    """A login role that is a member of sqlml_operator, and an engine that logs in as it."""
    role = f"sqlml_test_{uuid.uuid4().hex[:8]}"
    with db.begin() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN IN ROLE sqlml_operator")
    engine = sa.create_engine(make_url(pg_url).set(username=role), poolclass=NullPool)
    yield role, engine
    engine.dispose()
    with db.begin() as connection:
        connection.exec_driver_sql(f"DROP ROLE {role}")


# --- 1: only the deploying owner decides what code the database runs ------------


@pytest.fixture
def evil_runtime():
    """A directory holding a package named sqlml that leaves a marker file when imported."""
    folder = tempfile.mkdtemp(prefix="sqlml-evil-")
    os.makedirs(os.path.join(folder, "sqlml", "adapters"))
    marker = os.path.join(folder, "imported")
    with open(os.path.join(folder, "sqlml", "__init__.py"), "w") as fh:
        fh.write(f"open({marker!r}, 'w').write('pwned')\n__version__ = 'evil'\n")
    open(os.path.join(folder, "sqlml", "adapters", "__init__.py"), "w").close()
    for dirpath, _dirs, files in os.walk(folder):
        os.chmod(dirpath, 0o777)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o666)
    yield folder, marker
    shutil.rmtree(folder, ignore_errors=True)


def test_1_session_and_role_settings_cannot_choose_the_runtime(pg_url, db, login, evil_runtime):
    role, _ = login
    folder, marker = evil_runtime
    with db.begin() as connection:
        connection.exec_driver_sql(f"ALTER ROLE {role} SET sqlml.runtime_path = '{folder}'")
    engine = sa.create_engine(
        make_url(pg_url).set(username=role), poolclass=NullPool,
        connect_args={"options": f"-c sqlml.runtime_path={folder}"},
    )
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"SET sqlml.runtime_path = '{folder}'")
            versions = dict(connection.exec_driver_sql("SELECT * FROM ml.runtime_info()").all())
            with pytest.raises(sa.exc.DBAPIError, match="model 'nobody' not found"):
                connection.execute(sa.text(SCORE), {"name": "nobody", "query": "SELECT 1"})
    finally:
        engine.dispose()
    assert versions["sqlml"] != "evil"
    assert not os.path.exists(marker), "the session's runtime_path was imported"


def _runtime_setting(engine) -> str:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT ops.python_runtime() ->> 'runtime_path'").scalar()


@pytest.mark.parametrize("where", ["world-writable directory", "data directory"])
def test_1_the_owner_setting_is_refused_where_others_could_write(pg_url, db, evil_runtime, where):
    folder, marker = evil_runtime
    if where == "data directory":
        with db.connect() as connection:
            folder = connection.exec_driver_sql("SHOW data_directory").scalar()
    database = make_url(pg_url).database
    original = _runtime_setting(db)
    engine = sa.create_engine(pg_url, poolclass=NullPool)
    try:
        with db.begin() as connection:
            connection.exec_driver_sql(
                f"ALTER DATABASE \"{database}\" SET sqlml.runtime_path = '{folder}'")
        with engine.connect() as connection:
            with pytest.raises(sa.exc.DBAPIError, match="refuses runtime path"):
                connection.exec_driver_sql("SELECT * FROM ml.runtime_info()").all()
    finally:
        engine.dispose()
        with db.begin() as connection:
            connection.exec_driver_sql(
                f"ALTER DATABASE \"{database}\" SET sqlml.runtime_path = '{original}'")
    assert not os.path.exists(marker)
    assert stat.S_IMODE(os.stat(original).st_mode) & 0o022 == 0


# --- 2: operators act only through the routines -------------------------------------

DIRECT_WRITES = [
    "INSERT INTO ops.runs (run_type, model_name) VALUES ('score_churn', 'churn')",
    "UPDATE ops.runs SET status = 'succeeded'",
    "DELETE FROM ops.runs",
    "UPDATE models.registry SET status = 'active'",
    "INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)"
    " VALUES (1, 1, 'x', 0.5)",
    "DELETE FROM predictions.forecasts",
    "INSERT INTO predictions.churn_reasons (run_id, customer_id, rank, feature, feature_value,"
    " contribution) VALUES (1, 'x', 1, 'f', 'v', 0.5)",
    "SELECT * FROM ops.python_step('score_churn', 1, '{\"explain\": 3}') AS s (written bigint)",
    "SELECT * FROM ops.model_binding_key",
    "SELECT public.dblink_exec('sqlml_run_log', 'UPDATE ops.runs SET status = ''failed''')",
    "SELECT ops.run_log('SELECT 1')",
    "SELECT ops.sweep_runs()",
]


@pytest.mark.parametrize("sql", DIRECT_WRITES)
def test_2_operator_writes_no_table_and_borrows_no_owner_routine(db, sql):
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        as_role(db, sql)


@pytest.mark.slow
def test_2_operator_trains_scores_and_activates_through_the_routines(customers, login):
    role, engine = login
    trained = train(engine)
    second = train(engine)
    # whichever version the rule left active, the operator makes the other one active
    other = 1 if second["status"] == "active" else 2
    [activated] = call(engine, "SELECT * FROM ml.activate_model(model_name => 'churn', "
                               "version => :v)", v=other)
    [scored] = call(engine, SCORE, name="churn", query=None)
    assert (trained["status"], activated["version"], scored["version"]) == (
        "active", other, other)
    assert scored["rows_scored"] == CUSTOMERS
    mine = call(engine, "SELECT run_type, status, created_by FROM ops.runs ORDER BY run_id")
    assert [r["run_type"] for r in mine] == ["train_churn_model", "train_churn_model",
                                             "activate_model", "score_churn"]
    assert {(r["status"], r["created_by"]) for r in mine} == {("succeeded", role)}
    [reason] = call(customers, "SELECT status_reason FROM models.registry WHERE version = :v",
                    v=other)
    assert reason["status_reason"].startswith(f"activated by {role} with ml.activate_model")


@pytest.mark.slow
def test_2_a_caller_reads_nothing_through_a_routine_it_cannot_read_itself(customers, login):
    _, engine = login
    train(customers)
    with customers.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE public.sqlml_test_secret AS SELECT * FROM features.churn_features")
    try:
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied for table"):
            call(engine, SCORE, name="churn", query="SELECT * FROM public.sqlml_test_secret")
    finally:
        with customers.begin() as connection:
            connection.exec_driver_sql("DROP TABLE public.sqlml_test_secret")
    assert count(customers, "predictions.churn_scores") == 0
    assert runs(customers)[-1]["status"] == "failed"


@pytest.mark.slow
def test_2_every_batch_of_a_scoring_input_is_read_as_the_caller(customers, login):
    """Scoring reads its input a batch at a time through a cursor (docs/scale.md). A
    cursor's query runs as whoever fetches from it, so a fetch by the owner's half would
    run the caller's expressions with the owner's rights: here any row fetched as
    anyone but the caller divides by zero."""
    role, engine = login
    train(customers)
    query = ("SELECT *, 1 / CASE WHEN current_user = '" + role + "' THEN 1 ELSE 0 END"
             " AS as_caller FROM features.churn_features")
    with engine.connect() as connection:
        connection.exec_driver_sql("SET sqlml.score_batch_rows = 150")
        [scored] = connection.execute(sa.text(SCORE), {"name": "churn", "query": query}).all()
        connection.commit()
    assert scored.rows_scored == CUSTOMERS and CUSTOMERS > 3 * 150


@pytest.mark.slow
def test_2_the_owner_half_does_nothing_for_a_run_that_is_not_the_callers(customers, login):
    _, engine = login
    train(customers)
    with pytest.raises(sa.exc.ProgrammingError, match="not a call in progress"):
        call(engine, "SELECT ops.run_call(1)")  # the owner's training run
    with engine.connect() as connection:
        run_id = connection.exec_driver_sql(
            "SELECT ops.begin_run('score_churn', 'churn', '{}')").scalar()
        with pytest.raises(sa.exc.DBAPIError, match="no input read in this session"):
            connection.execute(sa.text("SELECT ops.run_call(:r)"), {"r": run_id})
    assert count(customers, "predictions.churn_scores") == 0
    assert count(customers, "models.registry", "status = 'active'") == 1


# --- 3: a model blob is bound to its model and version ----------------------------


@pytest.mark.slow
def test_3_a_blob_and_hash_swapped_between_versions_are_refused(customers):
    train(customers)
    train(customers, options=json.dumps({"epochs": 2, "hidden_units": [8], "seed": 7}))
    with customers.begin() as connection:
        connection.exec_driver_sql("""
            UPDATE models.registry AS r
            SET onnx_artifact = o.onnx_artifact, onnx_sha256 = o.onnx_sha256
            FROM models.registry AS o
            WHERE r.model_name = o.model_name AND r.version <> o.version""")
    with pytest.raises(sa.exc.DBAPIError, match="not the blob training registered") as raised:
        call(customers, SCORE, name="churn", query=None)
    assert raised.value.orig.sqlstate == "XX001"
    assert count(customers, "predictions.churn_scores") == 0
    assert "not the blob training registered" in runs(customers)[-1]["error"]


# --- 4: PUBLIC executes no ml or ops routine --------------------------------------

PUBLIC_EXECUTES = """
SELECT p.oid::regprocedure::text
FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
WHERE (n.nspname IN ('ml', 'ops') OR p.proname LIKE 'dblink%%')
  AND EXISTS (
    SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
    WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
ORDER BY 1"""
OPERATOR_LACKS = """
SELECT p.oid::regprocedure::text
FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname = 'ml' AND NOT has_function_privilege('sqlml_operator', p.oid, 'EXECUTE')
  -- Spark's publishing routines belong to sqlml_spark, the Spark job's role (docs/spark.md)
  AND p.proname NOT IN ('spark_begin', 'spark_publish', 'spark_fail')"""


def _grants(url) -> tuple[list[str], list[str]]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return ([r[0] for r in connection.exec_driver_sql(PUBLIC_EXECUTES)],
                    [r[0] for r in connection.exec_driver_sql(OPERATOR_LACKS)])
    finally:
        engine.dispose()


def test_4_public_executes_nothing_after_deploy(pg_url):
    assert _grants(pg_url) == ([], [])


def test_4_grants_survive_a_migration_round_trip(scratch_url):
    engine = sa.create_engine(scratch_url, poolclass=NullPool)
    try:
        migrate(engine)
        assert _grants(scratch_url) == ([], [])
        migrate(engine, "-1", downgrade=True)
        assert _grants(scratch_url)[0] == []
        migrate(engine)
        assert _grants(scratch_url) == ([], [])
    finally:
        engine.dispose()


# --- 5: every call leaves a run; runs leak no data ---------------------------------

SLOW_QUERY = "SELECT c.* FROM features.churn_features AS c, pg_sleep({seconds})"


def _score_in_thread(url, seconds, errors):
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        call(engine, SCORE, name="churn", query=SLOW_QUERY.format(seconds=seconds))
    except sa.exc.DBAPIError as exc:
        errors.append(exc)
    finally:
        engine.dispose()


def _running_run(engine, deadline=20.0):
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        rows = call(engine, "SELECT run_id, backend_pid FROM ops.runs WHERE status = 'running'")
        if rows:
            return rows[0]
        time.sleep(0.2)
    raise AssertionError("no running run appeared in ops.runs")


@pytest.mark.slow
def test_5_timeouts_and_cancels_are_failed_runs(customers, pg_url):
    train(customers)
    with customers.connect() as connection:
        connection.exec_driver_sql("SET statement_timeout = '1s'")
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
            connection.execute(sa.text(SCORE), {"name": "churn",
                                                "query": SLOW_QUERY.format(seconds=5)})
        connection.rollback()
    errors: list = []
    worker = threading.Thread(target=_score_in_thread, args=(pg_url, 30, errors))
    worker.start()
    running = _running_run(customers)
    time.sleep(0.5)
    call(customers, "SELECT pg_cancel_backend(:pid)", pid=running["backend_pid"])
    worker.join(30)
    assert errors and "canceling statement due to user request" in str(errors[0])
    cancelled = [r for r in runs(customers) if r["run_type"] == "score_churn"]
    assert [r["status"] for r in cancelled] == ["failed", "failed"]
    assert "statement timeout" in cancelled[0]["error"]
    assert "user request" in cancelled[1]["error"]


@pytest.mark.slow
def test_5_a_terminated_session_leaves_an_abandoned_run(customers, pg_url):
    train(customers)
    errors: list = []
    worker = threading.Thread(target=_score_in_thread, args=(pg_url, 60, errors))
    worker.start()
    running = _running_run(customers)
    call(customers, "SELECT pg_terminate_backend(:pid)", pid=running["backend_pid"])
    worker.join(30)
    call(customers, SCORE, name="churn", query=None)  # the next call sweeps
    [row] = call(customers, "SELECT status, error FROM ops.runs WHERE run_id = :r",
                 r=running["run_id"])
    assert row["status"] == "abandoned" and "session" in row["error"]


def test_5_run_errors_keep_no_data_value_and_operators_read_only_their_own(customers, login):
    role, engine = login
    secret = "s3cr3t-value-42"
    # A model of that name, so that the call gets past its cheap checks to the input
    # (issue 22: a missing model is refused before the input is read).
    with customers.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO models.registry (model_name, version, kind, status, artifact,"
            " artifact_sha256, onnx_artifact, onnx_sha256, spec, metrics, feature_schema,"
            " trained_rows, training_seconds, device) VALUES ('churn', 1, 'churn', 'active',"
            " '\\x00', repeat('0', 64), '\\x00', repeat('0', 64), '{}', '{}', '{}', 1, 0,"
            " 'CPU')")
    with pytest.raises(sa.exc.DBAPIError) as raised:
        call(engine, SCORE, name="churn", query=f"SELECT '{secret}'::int AS customer_id")
    assert secret in str(raised.value.orig)  # the caller gets the whole message
    with pytest.raises(sa.exc.DBAPIError):
        call(customers, SCORE, name="nobody", query=None)  # the owner's run
    [mine] = call(engine, "SELECT run_type, created_by, error FROM ops.runs")
    assert mine["created_by"] == role
    assert "invalid input syntax for type integer" in mine["error"]
    assert secret not in mine["error"]
    assert count(customers, "ops.runs") == 2


@pytest.mark.slow
def test_5_a_statement_timeout_stops_training_within_seconds(customers, pg_url):
    engine = sa.create_engine(pg_url, poolclass=NullPool)
    endless = json.dumps({"epochs": 2000, "patience": 2000, "hidden_units": [16],
                          "batch_size": 32, "refit": False})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT * FROM ml.train_churn_model('warm', "
                                       "options => :o)"), {"o": FAST}).all()
            connection.commit()
            connection.exec_driver_sql("SET statement_timeout = '4s'")
            started = time.monotonic()
            with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
                connection.execute(sa.text("SELECT * FROM ml.train_churn_model('endless', "
                                           "options => :o)"), {"o": endless}).all()
            elapsed = time.monotonic() - started
            connection.rollback()
    finally:
        engine.dispose()
    assert elapsed < 15, f"training ran {elapsed:.1f} s past a 4 s statement timeout"
    last = runs(customers)[-1]
    assert (last["model_name"], last["status"]) == ("endless", "failed")


# --- 6: bounded work ------------------------------------------------------------------

ABSURD_OPTIONS = [
    ('{"epochs": 100000000}', "epochs"),
    ('{"hidden_units": [100000, 100000, 100000]}', "hidden_units"),
    ('{"hidden_units": [16, 16, 16, 16, 16, 16]}', "hidden_units"),
    ('{"batch_size": 1}', "batch_size"),
    ('{"epochs": 1e400}', "epochs"),
    ('{"learning_rate": NaN}', "learning_rate"),
    ('{"dropout": Infinity}', "dropout"),
    ('{"learning_rate": 1e400}', "learning_rate"),
]


@pytest.mark.parametrize("options, option", ABSURD_OPTIONS)
def test_6_absurd_and_non_finite_options_are_parameter_errors(customers, options, option):
    with customers.connect() as connection:
        connection.exec_driver_sql("SET statement_timeout = '60s'")  # today's main trains on
        with pytest.raises(sa.exc.DBAPIError, match=f"option '{option}'") as raised:
            connection.execute(sa.text("SELECT * FROM ml.train_churn_model('churn', "
                                       "options => :o)"), {"o": options}).all()
        connection.rollback()
    assert raised.value.orig.sqlstate == "22023"
    assert count(customers, "models.registry") == 0
    [failed] = runs(customers)
    assert failed["status"] == "failed" and option in failed["error"]


def test_6_a_forecaster_option_beyond_its_bound_names_it(db):
    with pytest.raises(sa.exc.DBAPIError, match="option 'units'") as raised:
        sql_helpers.train(db, "train_forecaster", "forecast", None, '{"units": 100000}')
    assert raised.value.orig.sqlstate == "22023"


def test_6_a_10000_character_model_name_is_a_clean_error_with_its_run(customers):
    with pytest.raises(sa.exc.DBAPIError, match="model_name must be 1 to 128 characters") as e:
        train(customers, name="m" * 10_000)
    assert e.value.orig.sqlstate == "22023"
    [failed] = runs(customers)
    assert failed["status"] == "failed" and len(failed["model_name"]) == 128
