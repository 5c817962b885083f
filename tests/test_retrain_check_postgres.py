"""The retraining check (ops.retrain_check, the pg_cron job sqlml-retrain-check) on
PostgreSQL: its three triggers, its no-op, the decision it records; and the roles
around ml.evaluate and models.performance (issue 26)."""

import json

import pytest
import sqlalchemy as sa

from sql_helpers import call, count, load_customers

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FAST = json.dumps({"epochs": 2, "hidden_units": [8], "patience": 1, "ensemble_size": 1})
FEATURES = ("customer_id, region, plan_tier, contract, tenure_months, internet_service, "
            "phone_service, streaming, tech_support, payment_method, paperless_billing, "
            "monthly_charges, total_charges, support_calls, monthly_usage_minutes, "
            "usage_change_pct")
LABELLED = f"SELECT {FEATURES}, churned FROM features.customers"
# The outcomes turned around: the model's realised AUC falls to about 1 - its own.
REVERSED = f"SELECT {FEATURES}, 1 - churned AS churned FROM features.customers"
# Charges and tenure far from what the model was trained on: drift flagged.
SHIFTED = "SELECT {} FROM features.customers".format(
    FEATURES.replace("tenure_months", "tenure_months * 5 + 200 AS tenure_months")
    .replace("monthly_charges", "monthly_charges * 4 AS monthly_charges"))


@pytest.fixture
def active(db):
    load_customers(db, 800, seed=31)
    [row] = call(db, "SELECT * FROM ml.train_churn_model(model_name => 'churn', options => :o)",
                 o=FAST)
    if row["status"] != "active":  # the rule may keep a version that ties its baseline
        call(db, "SELECT * FROM ml.activate_model(model_name => 'churn', version => 1)")
    return db


def check(engine, evaluate_query=None, max_drop=0.5, drift_runs=50, max_age_days=365):
    [row] = call(engine, "SELECT * FROM ops.retrain_check(model_name => 'churn', evaluate_query"
                         " => :q, options => :o, max_drop => :d, drift_runs => :n,"
                         " max_age_days => :a)",
                 q=evaluate_query, o=FAST, d=max_drop, n=drift_runs, a=max_age_days)
    outcome = json.loads(row["outcome"])
    [run] = call(engine, "SELECT run_type, status, outcome FROM ops.runs WHERE run_id = :r",
                 r=row["run_id"])
    assert (run["run_type"], run["status"]) == ("retrain_check", "succeeded")
    assert run["outcome"] == outcome  # the decision and its figures, in ops.runs
    return row["decision"], outcome


def versions(engine):
    return count(engine, "models.registry", "model_name = 'churn'")


def test_no_evidence_no_retraining(active):
    decision, outcome = check(active, LABELLED, max_drop=0.5, drift_runs=2, max_age_days=365)
    assert decision == "none" and outcome["triggers"] == []
    assert outcome["realised"] == pytest.approx(outcome["validation"], abs=0.5)
    assert outcome["evaluated_rows"] == 800 and outcome["flagged_runs"] == 0
    assert versions(active) == 1
    assert count(active, "models.evaluations") == 1


def test_realised_metric_below_validation_retrains(active):
    decision, outcome = check(active, REVERSED, max_drop=0.05)
    assert (decision, outcome["triggers"]) == ("retrain", ["realised"])
    assert outcome["realised"] < outcome["validation"] - 0.05
    assert outcome["trained_version"] == 2 and versions(active) == 2
    # Activation only through the rule: the new version's reason is the rule's verdict.
    assert outcome["status_reason"].startswith(("activated: ", "candidate: "))
    [row] = call(active, "SELECT status, status_reason FROM models.registry WHERE version = 2")
    assert (row["status"], row["status_reason"]) == (outcome["status"], outcome["status_reason"])


def test_drift_flagged_for_n_runs_retrains(active):
    for _ in range(2):
        call(active, "SELECT * FROM ml.score_churn(model_name => 'churn', input_query => :q)",
             q=SHIFTED)
    assert count(active, "models.drift", "flagged") > 0
    decision, outcome = check(active, drift_runs=3)
    assert decision == "none" and outcome["flagged_runs"] == 2  # two flagged runs of three
    decision, outcome = check(active, drift_runs=2)
    assert (decision, outcome["triggers"]) == ("retrain", ["drift"])
    assert outcome["trained_version"] == 2


def test_schedule_retrains_a_version_past_its_age(active):
    decision, outcome = check(active, max_age_days=0)
    assert (decision, outcome["triggers"]) == ("retrain", ["schedule"])
    assert outcome["age_days"] >= 0 and outcome["trained_version"] == 2


def test_a_failed_check_is_a_failed_run(db):
    with pytest.raises(sa.exc.DBAPIError, match="model 'nobody' has no active version"):
        call(db, "SELECT * FROM ops.retrain_check(model_name => 'nobody')")
    [run] = call(db, "SELECT run_type, status, error FROM ops.runs ORDER BY run_id DESC LIMIT 1")
    assert (run["run_type"], run["status"]) == ("retrain_check", "failed")


def as_role(engine, sql, role, **params):
    """One statement as ``role`` (SET ROLE), in a transaction rolled back after."""
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SET ROLE {role}")
        try:
            return connection.execute(sa.text(sql), params).mappings().all()
        finally:
            connection.rollback()


def test_operators_evaluate_and_analysts_read_models_performance(active):
    [row] = as_role(active, "SELECT * FROM ml.evaluate(model_name => 'churn', input_query => :q)",
                    "sqlml_operator", q=LABELLED)
    assert row["rows"] == 800 and json.loads(row["metrics"])["auc"] > 0.5
    call(active, "SELECT * FROM ml.evaluate(model_name => 'churn', input_query => :q)",
         q=LABELLED)
    rows = as_role(active, "SELECT model_name, version, metric, validation, realised FROM "
                           "models.performance", "sqlml_analyst")
    assert len(rows) == 1 and rows[0]["realised"] is not None
    with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
        as_role(active, "SELECT * FROM ml.evaluate(model_name => 'churn', input_query => :q)",
                "sqlml_analyst", q=LABELLED)
    with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
        as_role(active, "SELECT * FROM models.evaluations", "sqlml_analyst")
    with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
        as_role(active, "INSERT INTO models.evaluations (run_id, model_id, model_name, version,"
                        " rows, metrics) VALUES (1, 1, 'x', 1, 1, '{}')", "sqlml_operator")
    # An operator's input_query runs with the operator's rights: no reading ops tables
    # through ml.evaluate.
    with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
        as_role(active, "SELECT * FROM ml.evaluate(model_name => 'churn', input_query => "
                        "'SELECT * FROM ops.model_binding_key')", "sqlml_operator")
