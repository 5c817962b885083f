"""Churn reasons on PostgreSQL through the public interface and the trust path.

``ml.score_churn(model_name, input_query, explain)`` hands ``explain`` to
``ops.call`` -> ``ops.run_call`` -> ``ops.run_score_churn``, which writes the
scores and (for ``explain`` > 0) the reasons in one statement of the call's
transaction. These tests hold that: both land together, ``explain = 0`` (and the
two-argument call) writes no reason, a failed run writes neither, analysts read
the reasons through ``predictions.churn_reasons_latest`` only, operators call the
routine but never write the table, and the demo prints the customers most at risk.
"""

import json

import pytest
import sqlalchemy as sa

from sql_helpers import call, count, runs, train
from sqlml.demo import churn_data
from sqlml.demo.bulk import insert_frame

pytestmark = pytest.mark.postgres

FAST = json.dumps({"epochs": 3, "hidden_units": [16], "patience": 2, "ensemble_size": 1})
CUSTOMERS = 300
SCORE = ("SELECT * FROM ml.score_churn(model_name => 'churn', input_query => :query,"
         " explain => :explain)")


@pytest.fixture
def customers(db):
    frame, _ = churn_data.customers(CUSTOMERS, seed=41)
    insert_frame(db, "features.customers", frame)
    return db


@pytest.fixture
def trained(customers):
    train(customers, "train_churn_model", "churn", options=FAST)
    return customers


def score(engine, explain, query=None):
    [row] = call(engine, SCORE, query=query, explain=explain)
    return row["run_id"]


@pytest.mark.slow
def test_scores_and_reasons_land_together_and_analysts_read_them(trained):
    run_id = score(trained, 3)
    assert count(trained, "predictions.churn_scores", f"run_id = {run_id}") == CUSTOMERS
    assert count(trained, "predictions.churn_reasons", f"run_id = {run_id}") == 3 * CUSTOMERS
    with trained.connect() as connection:
        connection.exec_driver_sql("SET ROLE sqlml_analyst")
        rows = connection.exec_driver_sql(
            "SELECT customer_id, rank, feature, feature_value, contribution, churn_probability,"
            " model_version, run_id FROM predictions.churn_reasons_latest"
            " ORDER BY churn_probability DESC, customer_id, rank LIMIT 6").mappings().all()
        connection.rollback()
    assert [r["rank"] for r in rows] == [1, 2, 3, 1, 2, 3]
    assert rows[0]["contribution"] >= rows[1]["contribution"] >= rows[2]["contribution"]
    assert rows[0]["contribution"] > 0 and rows[0]["model_version"] == 1
    assert {r["run_id"] for r in rows} == {run_id}
    features = set(churn_data.customers(1)[0].columns) - {"customer_id", "churned"}
    assert {r["feature"] for r in rows} <= features
    [run] = call(trained, "SELECT params, status FROM ops.runs WHERE run_id = :r", r=run_id)
    assert run["params"]["explain"] == 3 and run["status"] == "succeeded"


@pytest.mark.slow
def test_analysts_read_gbm_auc_and_feature_importance_in_sql(trained):
    with trained.connect() as connection:
        connection.exec_driver_sql("SET ROLE sqlml_analyst")
        rows = connection.exec_driver_sql(
            "SELECT (metrics::jsonb ->> 'gbm_auc')::float AS gbm_auc, f ->> 'feature' AS feature,"
            " (f ->> 'importance')::float AS importance FROM models.active_models,"
            " jsonb_array_elements(metrics::jsonb -> 'feature_importance') AS f"
            " WHERE model_name = 'churn'").mappings().all()
        connection.rollback()
    features = set(churn_data.customers(1)[0].columns) - {"customer_id", "churned"}
    assert {r["feature"] for r in rows} == features
    assert 0.5 < rows[0]["gbm_auc"] <= 1 and rows[0]["importance"] > 0
    values = [r["importance"] for r in rows]
    assert values == sorted(values, reverse=True), "most important first"


@pytest.mark.slow
def test_explain_zero_null_and_the_two_argument_call_write_no_reasons(trained):
    run_id = score(trained, 0)
    assert count(trained, "predictions.churn_scores", f"run_id = {run_id}") == CUSTOMERS
    [plain] = call(trained, "SELECT * FROM ml.score_churn('churn', NULL)")
    assert plain["rows_scored"] == CUSTOMERS
    score(trained, None)  # NULL is the default, as for input_query
    assert count(trained, "predictions.churn_reasons") == 0


@pytest.mark.slow
def test_the_latest_view_keeps_the_latest_run_that_kept_reasons(trained):
    """Issue 22, finding 11: the nightly job scores without explain; the reasons of the
    latest explained run stay, with that run's score and id beside them."""
    explained = score(trained, 2)
    assert count(trained, "predictions.churn_reasons_latest") == 2 * CUSTOMERS
    later = score(trained, 0)
    assert later > explained
    assert count(trained, "predictions.churn_reasons_latest",
                 f"run_id = {explained}") == 2 * CUSTOMERS


@pytest.mark.slow
@pytest.mark.parametrize("explain", [-1, 21])
def test_explain_out_of_bounds_is_a_parameter_error_and_a_failed_run(trained, explain):
    with pytest.raises(sa.exc.DBAPIError, match=r"explain must be 0 to 20 \(reasons kept"):
        score(trained, explain)
    assert count(trained, "predictions.churn_scores") == 0
    assert count(trained, "predictions.churn_reasons") == 0
    last = runs(trained)[-1]
    assert last["status"] == "failed" and "explain must be 0 to 20" in last["error"]


@pytest.mark.slow
def test_a_run_that_fails_while_scoring_leaves_neither_scores_nor_reasons(trained):
    """The input lacks a column the model needs: the Python half fails after drift was
    written in the same transaction; nothing of the run stays but its failed row."""
    query = "SELECT * FROM features.churn_features"
    with pytest.raises(sa.exc.DBAPIError, match="tenure_months"):
        score(trained, 3, query.replace("*", "customer_id, region, plan_tier"))
    assert count(trained, "predictions.churn_scores") == 0
    assert count(trained, "predictions.churn_reasons") == 0
    assert runs(trained)[-1]["status"] == "failed"


@pytest.mark.slow
def test_operators_explain_through_the_routine_but_never_write_reasons(trained):
    with trained.connect() as connection:
        connection.exec_driver_sql("SET ROLE sqlml_operator")
        try:
            [row] = connection.execute(sa.text(SCORE), {"query": None, "explain": 1}).all()
            connection.commit()
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                connection.exec_driver_sql(
                    "INSERT INTO predictions.churn_reasons (run_id, customer_id, rank, feature,"
                    f" feature_value, contribution) VALUES ({row.run_id}, 'x', 9, 'f', 'v', 0.1)")
        finally:
            connection.rollback()
            connection.exec_driver_sql("RESET ROLE")  # the pooled connection goes back clean
            connection.commit()
    assert count(trained, "predictions.churn_reasons", f"run_id = {row.run_id}") == CUSTOMERS


@pytest.mark.slow
def test_the_demo_prints_the_customers_most_at_risk_with_their_reasons(trained, capsys):
    from sqlml.demo.reasons import print_top_reasons

    score(trained, 0)
    assert print_top_reasons(trained) == 0, "a run without explain keeps no reasons"
    score(trained, 3)
    assert print_top_reasons(trained, customers=10, reasons=3) == 10
    lines = capsys.readouterr().out.splitlines()
    reasons = [line for line in lines if ". " in line and ": " in line and " = " in line]
    assert len(reasons) == 30 and reasons[0].strip().split()[2] == "1."
