"""A PostgreSQL run's state in the session's Python has one owner (issue 23):
``adapters/pg_staging.StagedRun``, created by ``ops.stage_input`` and released when the
run's step ends it, after success and after failure; and the run's drift is written by
that same step, one crossing into Python, never failing the run."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import imported_models as im
from sql_helpers import call
from sqlml.adapters import pg_staging
from sqlml.errors import InputError
from test_imported_postgres import IMPORT, OPTIONS, PREDICT, QUERY, TABLE, load

HOLDING = """
CREATE FUNCTION pg_temp.holding() RETURNS bigint LANGUAGE plpython3u AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import pg_staging
return pg_staging.holding()
$$
"""


# --- the owner itself, without a database ---------------------------------------

@pytest.mark.unit
def test_a_step_that_ends_the_run_releases_it_whether_it_returns_or_raises():
    pg_staging._begin(7).rows = "rows"
    with pg_staging.ending(7) as run:
        assert pg_staging.staged(7) == "rows" and run.rows is None
    assert pg_staging.holding() is None
    pg_staging._begin(8).rows = "rows"
    with pytest.raises(RuntimeError), pg_staging.ending(8):
        raise RuntimeError("the step failed")
    assert pg_staging.holding() is None


@pytest.mark.unit
def test_a_batch_step_keeps_the_run_for_its_next_batch_unless_it_fails():
    pg_staging._begin(9).rows = "batch 1"
    with pg_staging.failing(9) as run:
        run.written += 10
    assert pg_staging.holding() == 9 and pg_staging.held(9).written == 10
    with pytest.raises(ValueError), pg_staging.failing(9):
        raise ValueError("the batch failed")
    assert pg_staging.holding() is None
    with pytest.raises(InputError, match="run 9 has no input read in this session"):
        pg_staging.held(9)


@pytest.mark.unit
def test_a_new_call_replaces_what_a_run_that_failed_outside_python_left():
    pg_staging._begin(10).rows = "left behind"
    pg_staging._begin(11)
    assert pg_staging.holding() == 11
    with pytest.raises(InputError, match="run 10"):
        pg_staging.held(10)
    assert pg_staging.take(10) is None  # not this run's: nothing taken, nothing released
    assert pg_staging.holding() == 11
    pg_staging.release(11)
    assert pg_staging.take(11) is None and pg_staging.holding() is None


# --- in the database ------------------------------------------------------------

@pytest.fixture
def imported(db):
    frame, label = im.customers(400, seed=3)
    load(db, frame)
    _, blob = im.sklearn_pipeline(frame, label)
    call(db, IMPORT, name="acme", model=blob, options=OPTIONS, activate=True)
    return db


@pytest.mark.postgres
def test_the_session_holds_nothing_after_a_run_succeeds_or_fails(imported):
    with imported.connect() as connection:
        connection.exec_driver_sql(HOLDING)
        holding = sa.text("SELECT pg_temp.holding() AS h")
        predict = sa.text(PREDICT)
        connection.execute(predict, {"name": "acme", "query": QUERY}).one()
        assert connection.execute(holding).scalar() is None
        connection.commit()
        with pytest.raises(sa.exc.DBAPIError, match="no column 'region'"):
            connection.execute(predict, {"name": "acme", "query": (
                f"SELECT customer_id, plan, tenure, monthly_charges, support_calls "
                f"FROM {TABLE}")})
        connection.rollback()
        assert connection.execute(holding).scalar() is None
        with pytest.raises(sa.exc.DBAPIError, match="division by zero"):  # while staging
            connection.execute(predict, {"name": "acme", "query": (
                f"SELECT customer_id / 0 AS customer_id FROM {TABLE}")})
        connection.rollback()
        assert connection.execute(holding).scalar() is None


@pytest.mark.postgres
def test_drift_that_cannot_be_written_is_a_warning_and_a_row_never_a_failure(imported):
    call(imported, "SELECT * FROM ml.predict(model_name => 'acme', input_query => :q)", q=QUERY)
    with imported.begin() as connection:
        connection.exec_driver_sql(
            "CREATE FUNCTION ops.refuse_drift() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF NEW.feature <> '*' THEN RAISE EXCEPTION 'no drift today'; END IF;"
            " RETURN NEW; END $$")
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_drift BEFORE INSERT ON ops.run_drift FOR EACH ROW"
            " EXECUTE FUNCTION ops.refuse_drift()")
    try:
        [run] = call(imported, PREDICT, name="acme", query=QUERY)
        assert run["rows_scored"] == 400
        [row] = call(imported, "SELECT feature, psi, flagged, detail FROM ops.run_drift "
                               "WHERE run_id = :r", r=run["run_id"])
        assert row["feature"] == "*" and row["psi"] is None and not row["flagged"]
        assert "no drift today" in row["detail"]["error"]
        [scored] = call(imported, "SELECT count(*) AS n FROM predictions.model_scores "
                                  "WHERE run_id = :r", r=run["run_id"])
        assert scored["n"] == 400
    finally:
        with imported.begin() as connection:
            connection.exec_driver_sql("DROP TRIGGER refuse_drift ON ops.run_drift")
            connection.exec_driver_sql("DROP FUNCTION ops.refuse_drift()")


@pytest.mark.unit
def test_no_run_crosses_into_python_for_drift_alone():
    """The drift and profile steps are gone: each run's one step writes its drift."""
    from sqlml.paths import project_root

    procedures = project_root() / "procedures" / "postgres"
    step = (procedures / "ops.python_step.sql").read_text(encoding="utf-8")
    assert 'step == "drift"' not in step and '"profile", "predict"' not in step
    assert not (procedures / "ops.record_drift.sql").exists()
    for name in ("ops.run_score_churn.sql", "ops.run_forecast.sql", "ops.run_predict_model.sql"):
        text = (procedures / name).read_text(encoding="utf-8")
        assert text.count("ops.python_step(") == 1 + ("preview_churn" in text), name


@pytest.mark.unit
def test_the_postgresql_adapters_talk_to_entrypoints_only():
    from sqlml import entrypoints
    from sqlml.kinds.churn import scoring
    from sqlml.paths import package_dir

    adapters = package_dir() / "adapters"
    for module in [*adapters.glob("pg_*.py"), *adapters.glob("postgres*.py"),
                   adapters / "text_payload.py"]:
        assert "sqlml.kinds" not in module.read_text(encoding="utf-8"), module.name
    assert entrypoints.CHURN_SCORING == scoring.SCORING  # the words scoring's errors use
