"""Issue 22, finding 10: what-if scoring without side effects, and no drift from a
sample too small to mean anything.

ml.score_churn_preview scores made-up rows and returns the scores (and reasons): no
row in predictions.churn_scores, predictions.churn_reasons or ops.run_drift, but a run
in ops.runs. ml.score_churn of a single customer writes its score and records drift
as "too few rows", never a flag.
"""

import json

import pytest

from sql_helpers import CHURN_FAST, call, count, load_customers, train_churn

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

@pytest.fixture
def trained(db):
    load_customers(db, 600, seed=11)
    train_churn(db, options=CHURN_FAST)
    return db


def test_a_preview_returns_scores_and_reasons_and_writes_nothing(trained):
    one = "SELECT * FROM features.churn_features ORDER BY customer_id LIMIT 1"
    rows = call(trained, "SELECT * FROM ml.score_churn_preview(model_name => 'churn',"
                         " input_query => :q, explain => 2)", q=one)
    assert len(rows) == 1 and 0 <= rows[0]["churn_probability"] <= 1
    reasons = rows[0]["reasons"]
    assert [r["rank"] for r in reasons] == [1, 2]
    assert {"feature", "feature_value", "contribution"} <= set(reasons[0])
    assert count(trained, "predictions.churn_scores") == 0
    assert count(trained, "predictions.churn_reasons") == 0
    assert count(trained, "ops.run_drift") == 0
    [run] = call(trained, "SELECT run_type, status, rows_in, rows_out, params FROM ops.runs"
                          " WHERE run_id = :r", r=rows[0]["run_id"])
    assert (run["run_type"], run["status"], run["rows_in"], run["rows_out"]) == (
        "score_churn", "succeeded", 1, 0)
    assert run["params"]["preview"] is True
    # the same customer scored for real gets the same probability
    [scored] = call(trained, "SELECT * FROM ml.score_churn(model_name => 'churn',"
                             " input_query => :q)", q=one)
    [written] = call(trained, "SELECT churn_probability FROM predictions.churn_scores"
                              " WHERE run_id = :r", r=scored["run_id"])
    assert written["churn_probability"] == pytest.approx(rows[0]["churn_probability"], abs=1e-6)


def test_a_preview_without_explain_has_no_reasons_most_at_risk_first(trained):
    three = "SELECT * FROM features.churn_features ORDER BY customer_id LIMIT 3"
    rows = call(trained, "SELECT customer_id, churn_probability, reasons"
                         " FROM ml.score_churn_preview('churn', :q)", q=three)
    expected = {str(r["customer_id"]) for r in call(trained, three)}
    assert {r["customer_id"] for r in rows} == expected and len(rows) == 3
    probabilities = [r["churn_probability"] for r in rows]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(r["reasons"] is None for r in rows)


def test_a_single_row_scored_for_real_records_too_few_rows_never_a_flag(trained):
    one = "SELECT * FROM features.churn_features ORDER BY customer_id LIMIT 1"
    [run] = call(trained, "SELECT * FROM ml.score_churn(model_name => 'churn',"
                          " input_query => :q)", q=one)
    drift = call(trained, "SELECT feature, psi, flagged, detail FROM ops.run_drift"
                          " WHERE run_id = :r", r=run["run_id"])
    assert [(d["feature"], d["psi"], d["flagged"]) for d in drift] == [("*", None, False)]
    detail = drift[0]["detail"]
    detail = json.loads(detail) if isinstance(detail, str) else detail
    assert detail["too_few_rows"] and detail["rows"] == 1 and detail["min_rows"] == 100
    assert call(trained, "SELECT count(*) AS n FROM models.drift WHERE flagged")[0]["n"] == 0
