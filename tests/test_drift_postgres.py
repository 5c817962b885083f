"""Drift in the database: every scoring and forecasting run against its version's
stored profile (ops.run_drift, models.drift), and the analyst views described in the
catalog (revision 0015)."""

import json

import pytest
import sqlalchemy as sa

from sql_helpers import call
from sqlml.demo import churn_data

pytestmark = pytest.mark.postgres

FAST = json.dumps({"epochs": 2, "hidden_units": [8], "patience": 1})
ANALYST_VIEWS = ("predictions.churn_latest", "predictions.churn_reasons_latest",
                 "predictions.forecast_latest",
                 "models.active_models", "models.drift")
SCORE = "SELECT * FROM ml.score_churn(model_name => 'churn')"
RUN_DRIFT = ("SELECT d.feature, d.psi, d.flagged, u.status FROM ops.run_drift AS d "
             "JOIN ops.runs AS u ON u.run_id = d.run_id WHERE d.run_id = :run_id")


@pytest.fixture
def churn(db):
    churn_data.load_customers(db, 1500)
    call(db, "SELECT * FROM ml.train_churn_model(model_name => 'churn', options => :o)", o=FAST)
    return db


def shift_customers(engine):
    """Tenure five years longer and everyone on a two-year contract."""
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE features.customers SET tenure_months = "
                                   "tenure_months + 60, contract = 'two_year'"))


@pytest.mark.slow
def test_training_stores_a_profile_of_every_feature(churn):
    [row] = call(churn, "SELECT feature_schema FROM models.registry WHERE model_name = 'churn'")
    schema = row["feature_schema"]
    profile = schema["profile"]
    assert profile["rows"] == 1500 and profile["threshold"] == 0.2
    assert set(profile["features"]) == set(schema["numeric"]) | set(schema["categorical"])
    assert profile["features"]["tenure_months"]["type"] == "numeric"
    assert profile["features"]["contract"]["type"] == "categorical"


@pytest.mark.slow
def test_unchanged_input_is_stable_and_shifted_input_is_flagged(churn):
    [run] = call(churn, SCORE)
    stable = {r["feature"]: r for r in call(churn, RUN_DRIFT, run_id=run["run_id"])}
    assert stable and not any(r["flagged"] for r in stable.values())
    assert max(r["psi"] for r in stable.values()) < 0.01  # the training rows themselves

    shift_customers(churn)
    [run] = call(churn, SCORE)
    shifted = {r["feature"]: r for r in call(churn, RUN_DRIFT, run_id=run["run_id"])}
    assert shifted["tenure_months"]["flagged"] and shifted["tenure_months"]["psi"] > 0.2
    assert shifted["contract"]["flagged"]
    [detail] = call(churn, "SELECT detail FROM ops.run_drift WHERE run_id = :r "
                           "AND feature = 'contract'", r=run["run_id"])
    assert detail["detail"]["actual"]["two_year"] == 1.0
    assert not shifted["monthly_charges"]["flagged"]


def test_every_analyst_view_and_column_is_described(db):
    for view in ANALYST_VIEWS:
        rows = call(db, "SELECT a.attname, col_description(a.attrelid, a.attnum) AS about "
                        "FROM pg_attribute AS a WHERE a.attrelid = CAST(:v AS regclass) "
                        "AND a.attnum > 0 AND NOT a.attisdropped", v=view)
        missing = [r["attname"] for r in rows if not r["about"]]
        assert rows and not missing, f"{view}: no description for {missing}"
        [about] = call(db, "SELECT obj_description(CAST(:v AS regclass), 'pg_class') AS d", v=view)
        assert about["d"], f"{view} has no description"


def test_analysts_read_the_drift_view_but_not_the_table_behind_it(db):
    with db.connect() as connection:
        connection.exec_driver_sql("SET ROLE sqlml_analyst")
        connection.exec_driver_sql("SELECT * FROM models.drift LIMIT 1").all()
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            connection.exec_driver_sql("SELECT * FROM ops.run_drift LIMIT 1")
        connection.rollback()


@pytest.mark.slow
def test_every_scoring_run_records_drift_and_a_shift_raises_the_flag(churn):
    [first] = call(churn, "SELECT * FROM ml.score_churn(model_name => 'churn')")
    rows = {r["feature"]: r for r in call(churn, RUN_DRIFT, run_id=first["run_id"])}
    assert "tenure_months" in rows and not any(r["flagged"] for r in rows.values())
    assert {r["status"] for r in rows.values()} == {"succeeded"}

    shift_customers(churn)
    [second] = call(churn, "SELECT * FROM ml.score_churn(model_name => 'churn')")
    assert second["rows_scored"] == 1500  # drift never fails a run
    latest = {r["feature"]: r for r in call(
        churn, "SELECT feature, psi, flagged, run_id FROM models.drift WHERE model_name = 'churn'")}
    assert latest["tenure_months"]["flagged"] and latest["contract"]["flagged"]
    assert {r["run_id"] for r in latest.values()} == {second["run_id"]}


@pytest.mark.slow
def test_a_version_without_a_profile_still_scores_and_says_why(churn):
    with churn.begin() as connection:
        connection.execute(sa.text(
            "UPDATE models.registry SET feature_schema = feature_schema - 'profile'"))
    [run] = call(churn, "SELECT * FROM ml.score_churn(model_name => 'churn')")
    [row] = call(churn, "SELECT feature, psi, flagged, detail FROM ops.run_drift "
                        "WHERE run_id = :r", r=run["run_id"])
    assert row["feature"] == "*" and row["psi"] is None and not row["flagged"]
    assert "retrain" in row["detail"]["error"]


@pytest.mark.slow
def test_a_failed_scoring_run_writes_no_drift(churn):
    with pytest.raises(sa.exc.DBAPIError, match="customer_id"):
        call(churn, "SELECT * FROM ml.score_churn(model_name => 'churn', input_query => "
                    "'SELECT tenure_months FROM features.customers')")
    assert call(churn, "SELECT count(*) AS n FROM ops.run_drift")[0]["n"] == 0


@pytest.mark.slow
def test_every_forecasting_run_records_series_drift(db):
    from sqlml.demo import series_data

    series_data.load_series(db, n_series=12, length=84, min_length=72, seed=4)
    call(db, "SELECT * FROM ml.train_forecaster(model_name => 'forecast', options => :o)",
         o=json.dumps({"ensemble": 1, "units": 4, "epochs": 1, "patience": 1, "lookback": 24,
                       "validation_origins": 3}))
    [run] = call(db, "SELECT * FROM ml.forecast(model_name => 'forecast')")
    rows = {r["feature"]: r for r in call(db, RUN_DRIFT, run_id=run["run_id"])}
    assert set(rows) == {"series_level", "series_scale"}
    assert not rows["series_level"]["flagged"]
    with db.begin() as connection:
        connection.execute(sa.text("UPDATE features.monthly_usage SET value = value * 10"))
    [shifted] = call(db, "SELECT * FROM ml.forecast(model_name => 'forecast')")
    rows = {r["feature"]: r for r in call(db, RUN_DRIFT, run_id=shifted["run_id"])}
    assert rows["series_level"]["flagged"] and shifted["rows_written"] > 0
