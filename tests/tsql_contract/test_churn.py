"""Contracts of the churn procedures' embedded Python, fed from the PostgreSQL engine.

Training runs through ops.run_train's @script (which ml.train_churn_model calls);
its OUTPUT parameters
then feed ops.run_score_churn's @script (ml.score_churn's work), as the T-SQL procedures chain them.
"""

import json

import pytest

from sqlml.demo import churn_data
from sqlml.demo.bulk import insert_frame

from .harness import (
    assert_trained,
    emptied_after,
    kind_spec,
    run_contract,
    train_contract,
    trained_fixture,
)

pytestmark = pytest.mark.tsql_contract

FAST = json.dumps({"epochs": 2, "hidden_units": [8], "patience": 1, "ensemble_size": 1})
CUSTOMERS = 400
INPUT = "SELECT * FROM features.churn_features"
# ops.run_score_churn's two external script calls (ml.score_churn's work):
# @explain = 0, and @explain > 0.
PLAIN, EXPLAINED = 0, 1


@pytest.fixture(scope="module")
def customers(pg_engine):
    frame, _ = churn_data.customers(CUSTOMERS, seed=23)
    insert_frame(pg_engine, "features.customers", frame)
    yield from emptied_after(pg_engine, "features.customers")


trained = trained_fixture("churn", "customers", INPUT, FAST)


@pytest.mark.slow
def test_train_churn_model_returns_blobs_and_a_registration(customers, profile):
    outcome = train_contract("churn", engine=customers, input_sql=INPUT, options=FAST,
                             profile=profile)
    assert_trained(outcome, CUSTOMERS, {"auc", "baseline_auc", "n_train", "n_valid"})


@pytest.mark.slow
def test_train_churn_model_options_null_means_the_spec_defaults(customers):
    call = train_contract("churn", engine=customers, input_sql=INPUT, options=None)
    spec = json.loads(call.output_params["registration"])["spec"]
    defaults = json.loads(kind_spec(customers, "churn"))["options"]
    assert spec["options"]["epochs"] == defaults["epochs"]


@pytest.mark.slow
def test_score_churn_returns_what_with_result_sets_declares(customers, trained, profile):
    registration = json.loads(trained["registration"])
    outcome = run_contract(
        "ops.run_score_churn", profile=profile, engine=customers, call=PLAIN,
        input_sql=INPUT,
        params={"onnx_artifact": trained["onnx_artifact"],
                "onnx_sha256": registration["onnx_sha256"],
                "profile": json.dumps(registration["feature_schema"]["profile"])},
    )
    scores = outcome.output
    assert len(scores) == CUSTOMERS
    # @drift OUTPUT: what the procedure unpacks with OPENJSON into ops.run_drift
    drift = json.loads(outcome.output_params["drift"])
    profiled = registration["feature_schema"]["profile"]["features"]
    assert {d["feature"] for d in drift} == set(profiled)
    assert not any(d["flagged"] for d in drift)  # the training rows themselves
    # BIGINT ids arrive as float64 in InputDataSet; they must leave as '17', not '17.0'
    assert set(scores["customer_id"]) == {str(i) for i in range(1, CUSTOMERS + 1)}
    assert scores["churn_probability"].between(0, 1).all()


@pytest.mark.slow
def test_score_churn_refuses_a_wrong_hash_with_its_own_sentence(customers, trained):
    """The error leaves the script as @script_error (THROW 50501 in ops.run_score_churn), not
    as an exception that SQL Server would report only as the generic Msg 39004."""
    outcome = run_contract(
        "ops.run_score_churn", profile="ml_services", engine=customers, call=PLAIN,
        input_sql=INPUT,
        params={"onnx_artifact": trained["onnx_artifact"], "onnx_sha256": "0" * 64,
                "profile": None},
    )
    assert outcome.output_params["script_error"].startswith("sqlml: ")
    assert outcome.output_params["drift"] is None
    assert "sha256" in outcome.output_params["script_error"]
    assert outcome.output is not None and outcome.output.empty


@pytest.mark.slow
def test_score_churn_with_explain_returns_scores_and_reasons_in_one_result_set(
        customers, trained, profile):
    """@explain = 3: one score row per customer (rank NULL) and three reason rows each
    (probability NULL), as the second call's WITH RESULT SETS declares them, so the
    procedure can split them into churn_scores and churn_reasons; @drift as before."""
    registration = json.loads(trained["registration"])
    outcome = run_contract(
        "ops.run_score_churn", profile=profile, engine=customers, call=EXPLAINED,
        input_sql=INPUT,
        params={"onnx_artifact": trained["onnx_artifact"],
                "onnx_sha256": registration["onnx_sha256"], "explain": 3,
                "profile": json.dumps(registration["feature_schema"]["profile"])},
    )
    out = outcome.output
    assert outcome.output_params["script_error"] is None
    scores, reasons = out[out["rank"].isna()], out[out["rank"].notna()]
    assert set(scores["customer_id"]) == {str(i) for i in range(1, CUSTOMERS + 1)}
    assert scores["churn_probability"].between(0, 1).all()
    assert len(reasons) == 3 * CUSTOMERS and reasons["churn_probability"].isna().all()
    assert reasons.groupby("customer_id")["rank"].apply(lambda r: sorted(r) == [1, 2, 3]).all()
    schema = registration["feature_schema"]
    assert set(reasons["feature"]) <= set(schema["numeric"]) | set(schema["categorical"])
    assert {d["feature"] for d in json.loads(outcome.output_params["drift"])} == set(
        registration["feature_schema"]["profile"]["features"])


@pytest.mark.slow
def test_score_churn_with_explain_carries_an_error_out_with_no_rows(customers, trained):
    """A wrong hash under @explain: @script_error (THROW 50501), no score, no reason."""
    outcome = run_contract(
        "ops.run_score_churn", profile="ml_services", engine=customers, call=EXPLAINED,
        input_sql=INPUT,
        params={"onnx_artifact": trained["onnx_artifact"], "onnx_sha256": "0" * 64,
                "explain": 2, "profile": None},
    )
    assert "sha256" in outcome.output_params["script_error"]
    assert outcome.output is not None and outcome.output.empty


def test_train_model_carries_a_parameter_error_out(customers):
    """A bad option is a parameter error naming the option, in @script_error (THROW
    50302 in ops.run_train, so in ERROR_MESSAGE() and ops.runs.error)."""
    outcome = train_contract("churn", engine=customers, input_sql=INPUT,
                             options=json.dumps({"no_such_option": 1}))
    assert "no_such_option" in outcome.output_params["script_error"]
    assert outcome.output_params["artifact"] is None


FEATURES = ("region, plan_tier, contract, tenure_months, internet_service, phone_service, "
            "streaming, tech_support, payment_method, paperless_billing, monthly_charges, "
            "total_charges, support_calls, monthly_usage_minutes, usage_change_pct")


def score_with_key(customers, trained, key: str, call=PLAIN):
    registration = json.loads(trained["registration"])
    return run_contract(
        "ops.run_score_churn", profile="ml_services", engine=customers, call=call,
        input_sql=f"SELECT {key} AS customer_id, {FEATURES} FROM features.churn_features",
        params={"onnx_artifact": trained["onnx_artifact"],
                "onnx_sha256": registration["onnx_sha256"], "profile": None,
                **({"explain": 1} if call == EXPLAINED else {})},
    )


@pytest.mark.parametrize("call", [PLAIN, EXPLAINED])
def test_score_churn_keeps_text_keys_byte_for_byte(customers, trained, call):
    """Issue 22: NVARCHAR ids were trimmed (' 7' and '7', or '7\\n', became one
    customer); they leave the script exactly as they came."""
    key = ("CASE WHEN customer_id % 2 = 0 THEN ' ' ELSE '' END || customer_id::text"
           " || CASE WHEN customer_id % 3 = 0 THEN E'\\n' ELSE '' END")
    outcome = score_with_key(customers, trained, key, call)
    assert outcome.output_params["script_error"] is None
    out = outcome.output
    ids = set(out.loc[out["rank"].isna(), "customer_id"] if call == EXPLAINED
              else out["customer_id"])
    assert ids == {(" " if n % 2 == 0 else "") + str(n) + ("\n" if n % 3 == 0 else "")
                   for n in range(1, CUSTOMERS + 1)}


@pytest.mark.parametrize("key", ["DATE '2024-01-01' + customer_id::int", "customer_id % 2 = 0",
                                 "(customer_id + 0.5)::float8"])
def test_score_churn_refuses_keys_without_an_exact_text(customers, trained, key):
    outcome = score_with_key(customers, trained, key)
    assert "column 'customer_id'" in outcome.output_params["script_error"]
    assert outcome.output is not None and outcome.output.empty
def test_score_churn_batches_carry_drift_counts_to_the_drift_of_the_whole(
        customers, trained, profile):
    """ops.run_score_churn reads its input in ranges of the id column, one script each
    (docs/scale.md): @drift_state carries the drift counts from batch to batch, so the
    last batch's @drift is the whole input's, and each batch scores its own rows."""
    registration = json.loads(trained["registration"])
    params = {"onnx_artifact": trained["onnx_artifact"],
              "onnx_sha256": registration["onnx_sha256"],
              "profile": json.dumps(registration["feature_schema"]["profile"])}
    whole = run_contract("ops.run_score_churn", profile=profile, engine=customers,
                         call=PLAIN, input_sql=INPUT, params=params)
    state, scores = None, []
    for where in ("customer_id <= 150", "customer_id > 150 AND customer_id <= 300",
                  "customer_id > 300"):
        part = run_contract("ops.run_score_churn", profile=profile, engine=customers,
                            call=PLAIN, input_sql=f"{INPUT} WHERE {where}",
                            params={**params, "drift_state": state})
        assert part.output_params["script_error"] is None
        assert part.output_params["rows_read"] == len(part.output)
        state = part.output_params["drift_state"]
        scores.append(part.output)
    batched = {d["feature"]: d for d in json.loads(part.output_params["drift"])}
    one = {d["feature"]: d for d in json.loads(whole.output_params["drift"])}
    assert batched.keys() == one.keys()
    for feature, d in one.items():
        assert d["psi"] == pytest.approx(batched[feature]["psi"], abs=1e-12), feature
        mean = d["detail"].pop("mean_actual", None)
        other = batched[feature]["detail"].pop("mean_actual", None)
        assert (mean is None and other is None) or mean == pytest.approx(other, rel=1e-12)
        assert d["detail"] == batched[feature]["detail"], feature
    got = {r.customer_id: r.churn_probability for s in scores for r in s.itertuples()}
    expected = {r.customer_id: r.churn_probability for r in whole.output.itertuples()}
    assert got.keys() == expected.keys()
    assert max(abs(got[k] - expected[k]) for k in got) <= 1e-6
