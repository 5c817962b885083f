"""Drift in the database: ops.drift_py against a version's stored profile, and the
analyst views described in the catalog (revision 0015)."""

import json

import pytest
import sqlalchemy as sa

from sql_helpers import call
from sqlml.demo import churn_data

pytestmark = pytest.mark.postgres

FAST = json.dumps({"epochs": 2, "hidden_units": [8], "patience": 1})
ANALYST_VIEWS = ("predictions.churn_latest", "predictions.forecast_latest",
                 "models.active_models", "models.drift")
DRIFT = ("SELECT feature, psi, flagged, detail FROM ops.drift_py("
         " (SELECT s.spec #>> '{input,default_query}' FROM models.specs AS s"
         "  WHERE s.kind = 'churn'),"
         " (SELECT r.feature_schema -> 'profile' FROM models.registry AS r"
         "  WHERE r.model_name = 'churn' AND r.status = 'active'))")


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


def test_training_stores_a_profile_of_every_feature(churn):
    [row] = call(churn, "SELECT feature_schema FROM models.registry WHERE model_name = 'churn'")
    schema = row["feature_schema"]
    profile = schema["profile"]
    assert profile["rows"] == 1500 and profile["threshold"] == 0.2
    assert set(profile["features"]) == set(schema["numeric"]) | set(schema["categorical"])
    assert profile["features"]["tenure_months"]["type"] == "numeric"
    assert profile["features"]["contract"]["type"] == "categorical"


def test_unchanged_input_is_stable_and_shifted_input_is_flagged(churn):
    stable = {r["feature"]: r for r in call(churn, DRIFT)}
    assert stable and not any(r["flagged"] for r in stable.values())
    assert max(r["psi"] for r in stable.values()) < 0.01  # the training rows themselves

    shift_customers(churn)
    shifted = {r["feature"]: r for r in call(churn, DRIFT)}
    assert shifted["tenure_months"]["flagged"] and shifted["tenure_months"]["psi"] > 0.2
    assert shifted["contract"]["flagged"]
    assert shifted["contract"]["detail"]["actual"]["two_year"] == 1.0
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
