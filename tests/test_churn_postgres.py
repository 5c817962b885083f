"""The churn procedures end to end on PostgreSQL: the public SQL interface, in PL/Python."""

import json
import re

import pytest
import sqlalchemy as sa

from sql_helpers import (
    assert_activation_rule_keeps_the_champion,
    assert_refuses_other_kind,
    assert_refuses_tampered_blob,
    call,
    count,
    load_customers,
    runs,
)
from sql_helpers import train_churn as train

pytestmark = pytest.mark.postgres

CUSTOMERS = 1500


@pytest.fixture
def customers(db):
    return load_customers(db, CUSTOMERS, seed=17)


def score(engine, name="churn", query=None):
    [row] = call(engine, "SELECT * FROM ml.score_churn(model_name => :name, input_query => :query)",
                 name=name, query=query)
    return row




@pytest.mark.slow
def test_train_registers_an_active_version_with_metrics_and_device(customers):
    row = train(customers)
    assert (row["model_name"], row["version"], row["status"]) == ("churn", 1, "active")
    metrics = json.loads(row["metrics"])
    assert metrics["n_train"] + metrics["n_valid"] == CUSTOMERS
    assert 0.5 < metrics["auc"] <= 1 and 0.5 < metrics["baseline_auc"] <= 1
    [reg] = call(customers, "SELECT * FROM models.registry")
    assert reg["device"].startswith(("CPU", "GPU"))
    assert reg["trained_rows"] == CUSTOMERS and reg["training_seconds"] > 0
    assert len(reg["artifact_sha256"]) == 64 and bytes(reg["onnx_artifact"])[:2] == b"PK"
    assert reg["spec"]["options"]["epochs"] == 3
    assert runs(customers)[-1]["status"] == "succeeded"


@pytest.mark.slow
def test_score_writes_one_batch_that_analysts_read_from_the_view(customers):
    trained = train(customers)
    result = score(customers)
    assert result["rows_scored"] == CUSTOMERS and result["version"] == trained["version"]
    assert count(customers, "predictions.churn_scores", f"run_id = {result['run_id']}") == CUSTOMERS
    [top] = call(customers, "SELECT * FROM predictions.churn_latest "
                            "ORDER BY churn_probability DESC LIMIT 1")
    assert top["model_name"] == "churn" and top["model_version"] == 1
    assert 0 <= top["churn_probability"] <= 1
    last = runs(customers)[-1]
    assert (last["run_type"], last["status"], last["rows_out"]) == ("score_churn", "succeeded",
                                                                   CUSTOMERS)


@pytest.mark.slow
def test_text_ids_text_categories_and_nulls_through_input_query(customers):
    query = ("SELECT 'C-' || lpad(customer_id::text, 6, '0') AS customer_id, contract,"
             " payment_method, CASE WHEN customer_id % 7 = 0 THEN NULL ELSE total_charges END"
             " AS total_charges, tenure_months, churned FROM features.customers")
    train(customers, name="text_ids", query=query)
    result = score(customers, name="text_ids", query=query.replace(", churned", ""))
    assert result["rows_scored"] == CUSTOMERS
    [row] = call(customers, "SELECT customer_id FROM predictions.churn_latest "
                            "WHERE model_name = 'text_ids' ORDER BY customer_id LIMIT 1")
    assert row["customer_id"] == "C-000001"


@pytest.mark.slow
def test_versions_count_up_and_the_activation_rule_is_recorded(customers):
    reason = assert_activation_rule_keeps_the_champion(customers, train)
    reasons = {r["version"]: (r["status"], r["status_reason"]) for r in call(
        customers, "SELECT version, status, status_reason FROM models.registry")}
    assert "activate = false" in reasons[2][1]
    if reason is not None:
        assert reasons[1][0] == "active"
        assert reason.startswith("candidate: auc ") and "active version 1's" in reason
    assert count(customers, "models.active_models") <= 1


@pytest.mark.slow
def test_activate_model_rolls_back_to_an_earlier_version(customers):
    train(customers)
    train(customers)
    [row] = call(customers, "SELECT * FROM ml.activate_model(model_name => 'churn', version => 1)")
    assert (row["model_name"], row["version"], row["status"]) == ("churn", 1, "active")
    assert score(customers)["version"] == 1
    with pytest.raises(sa.exc.DBAPIError, match="model 'churn' has no version 9"):
        call(customers, "SELECT * FROM ml.activate_model(model_name => 'churn', version => 9)")


BAD_TRAINING = [
    ("SELECT contract, churned FROM features.customers", "no 'customer_id' column"),
    ("SELECT customer_id, contract FROM features.customers", "no 'churned' column"),
    ("SELECT customer_id, contract, churned * 2 AS churned FROM features.customers",
     "'churned' must be 0 or 1; found 2"),
    ("SELECT customer_id, contract, 0 AS churned FROM features.customers", "only one class"),
    ("SELECT customer_id, contract, churned FROM features.customers LIMIT 10", "too few"),
    # Issue 22: refused by the parser as more than one statement, and nothing runs.
    ("SELECT 1 AS customer_id; DROP TABLE features.customers", "exactly one query"),
    # Issue 8: copies would land on both sides of the validation split.
    ("SELECT * FROM features.churn_features UNION ALL "
     "SELECT * FROM features.churn_features WHERE customer_id <= 5",
     "column 'customer_id' has 5 duplicate value"),
    ("SELECT customer_id, contract, churned, CASE WHEN customer_id = 3 THEN 'Infinity'::float8"
     " ELSE monthly_charges END AS monthly_charges FROM features.customers",
     r"column 'monthly_charges' has 1 value\(s\) that are infinite"),
]


@pytest.mark.parametrize("query, message", BAD_TRAINING)
def test_bad_training_input_fails_clearly_and_registers_nothing(customers, query, message):
    with pytest.raises(sa.exc.DBAPIError, match=message):
        train(customers, query=query)
    assert count(customers, "models.registry") == 0
    assert count(customers, "features.customers") == CUSTOMERS
    [failed] = runs(customers)
    assert failed["status"] == "failed" and failed["run_type"] == "train_churn_model"
    assert re.search(message, failed["error"]), failed["error"]


def test_unknown_option_is_an_error_naming_it(customers):
    with pytest.raises(sa.exc.DBAPIError, match="unknown option 'epoch'"):
        train(customers, options='{"epoch": 3}')
    assert count(customers, "models.registry") == 0


def test_scoring_an_unknown_model_fails_and_is_logged(customers):
    with pytest.raises(sa.exc.DBAPIError, match="model 'nobody' not found"):
        score(customers, name="nobody")
    [failed] = runs(customers)
    assert (failed["run_type"], failed["status"]) == ("score_churn", "failed")
    assert "not found" in failed["error"]


@pytest.mark.slow
def test_scoring_without_a_needed_feature_writes_no_scores(customers):
    train(customers)
    with pytest.raises(sa.exc.DBAPIError, match="lacks feature column.*contract"):
        score(customers, query="SELECT customer_id, tenure_months FROM features.customers")
    assert count(customers, "predictions.churn_scores") == 0
    assert runs(customers)[-1]["status"] == "failed"


@pytest.mark.slow
def test_a_tampered_model_blob_is_refused_and_nothing_is_written(customers):
    train(customers)
    assert_refuses_tampered_blob(customers, lambda: score(customers), "predictions.churn_scores")


@pytest.mark.slow
def test_a_forecaster_name_cannot_be_scored_as_churn(customers):
    train(customers)
    assert_refuses_other_kind(customers, lambda: score(customers), "forecaster", "churn")


@pytest.mark.slow
def test_scores_in_the_database_equal_the_pandas_implementation(customers):
    """Issue 11's parity rule, through the lean reader: NULL, padded and blank text,
    a value holding the reader's separator, booleans and dates."""
    import pandas as pd

    from test_churn_scoring import PARITY, legacy_scores

    query = ("SELECT customer_id, CASE customer_id % 5 WHEN 0 THEN NULL"
             " WHEN 1 THEN ' ' || contract || ' ' WHEN 2 THEN contract || chr(31) || 'x'"
             " WHEN 3 THEN '' ELSE contract END AS contract, region, tenure_months,"
             " CASE WHEN customer_id % 3 = 0 THEN NULL ELSE total_charges END AS total_charges,"
             " paperless_billing, DATE '2020-01-01' + tenure_months * 30 AS signup, churned"
             " FROM features.customers")
    train(customers, name="parity", query=query)
    scoring_query = query.replace(", churned", "")
    result = score(customers, name="parity", query=scoring_query)
    with customers.connect() as c:
        frame = pd.read_sql(sa.text(scoring_query), c)
        got = pd.read_sql(sa.text("SELECT customer_id, churn_probability FROM "
                                  "predictions.churn_scores WHERE run_id = :r"),
                          c, params={"r": result["run_id"]})
        blob, sha = c.execute(sa.text("SELECT onnx_artifact, onnx_sha256 FROM models.registry"
                                      " WHERE model_name = 'parity'")).one()
    frame["signup"] = pd.to_datetime(frame["signup"], utc=True)  # as PL/Python handed dates
    want = pd.Series(legacy_scores(frame, bytes(blob), sha),
                     index=frame["customer_id"].astype(str))
    got = got.set_index("customer_id")["churn_probability"]
    assert len(got) == len(want) == CUSTOMERS
    assert (got - want.reindex(got.index)).abs().max() <= PARITY


def test_scores_cross_from_pl_python_as_text_that_reads_back_bit_for_bit(customers):
    """adapters.pg_writes.write_scores sends scores as float32 decimal text; the
    server's float4 input gives back each value exactly (then widened to float8)."""
    import numpy as np

    from sqlml.adapters.pg_writes import SEPARATOR, float4_text

    rng = np.random.default_rng(5)
    tens = np.array([10.0 ** -k for k in range(46)], dtype=np.float32)
    values = np.concatenate([rng.random(5000).astype(np.float32), tens,
                             np.nextafter(tens, np.float32(0)), np.nextafter(tens, np.float32(1)),
                             np.array([0.0, 1.0, 1e-45], dtype=np.float32)]).astype(np.float64)
    with customers.connect() as c:
        back = c.execute(sa.text(
            "SELECT u.p::float4::float8 FROM string_to_table(:t, :s) WITH ORDINALITY"
            " AS u (p, i) ORDER BY u.i"),
            {"t": float4_text(values), "s": SEPARATOR}).scalars().all()
    assert np.array_equal(np.array(back), values)


@pytest.mark.slow
def test_scores_are_written_whatever_the_ids_hold(customers):
    """The write from PL/Python: text payloads for plain ids; ids holding the
    payload's separator, and a single empty id, go as arrays; scores within the
    parity tolerance of the scorer's in every case."""
    import numpy as np

    from sqlml.kinds.churn import scoring
    from test_churn_scoring import PARITY

    features = ("region, plan_tier, contract, tenure_months, monthly_charges, total_charges,"
                " support_calls")
    train(customers, name="exact",
          query=f"SELECT customer_id, {features}, churned FROM features.customers")
    plain = f"SELECT customer_id::text AS customer_id, {features} FROM features.customers"
    separator = plain.replace("customer_id::text", "CASE WHEN customer_id = 1 THEN 'a' || "
                              "chr(31) || 'b' ELSE customer_id::text END")
    for query in (plain, separator):
        result = score(customers, name="exact", query=query)
        with customers.connect() as c:
            blob, sha = c.execute(sa.text("SELECT onnx_artifact, onnx_sha256 FROM "
                                          "models.registry WHERE model_name = 'exact'")).one()
            rows = c.execute(sa.text(query)).mappings().all()
            got = dict(c.execute(sa.text("SELECT customer_id, churn_probability FROM "
                                         "predictions.churn_scores WHERE run_id = :r"),
                                 {"r": result["run_id"]}).all())
        columns = {name: np.array([r[name] for r in rows], dtype=object) for name in rows[0]}
        ids, want = scoring.score_columns(columns, len(rows), scoring.scorer(bytes(blob), sha))
        assert len(got) == CUSTOMERS
        assert np.abs(np.array([got[i] for i in ids]) - want).max() <= PARITY
    assert "a\x1fb" in got
    single = score(customers, name="exact",
                   query=f"SELECT ''::text AS customer_id, {features}"
                         " FROM features.customers LIMIT 1")
    assert count(customers, "predictions.churn_scores",
                 f"run_id = {single['run_id']} AND customer_id = ''") == 1
