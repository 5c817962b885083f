"""Explanations of churn scores: faithful, signed, per input column, from ONNX alone."""

import json

import numpy as np
import pandas as pd
import pytest

from sqlml import entrypoints
from sqlml.demo import churn_calls_data
from sqlml.errors import InputError
from sqlml.kinds.churn import explain
from sqlml.kinds.churn import model as churn
from sqlml.paths import project_root

pytestmark = pytest.mark.unit

SPEC = json.loads((project_root() / "models" / "churn.json").read_text())
QUICK = {"epochs": 10, "hidden_units": [16], "patience": 4, "ensemble_size": 1}


def planted(n: int, seed: int) -> pd.DataFrame:
    """Churn comes from ``risk`` alone (a threshold); the other columns are noise."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(0, 1, n)
    logit = -2.5 + 4.0 * (risk > 0.8)
    return pd.DataFrame({
        "customer_id": np.arange(n),
        "risk": risk.round(3),
        "tenure": rng.integers(1, 72, n),
        "plan": rng.choice(["a", "b", "c"], n),
        "spend": rng.gamma(3, 20, n).round(2),
        "churned": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
    })


@pytest.fixture(scope="module")
def planted_model():
    return churn.train(planted(1500, seed=1), SPEC, QUICK)


def explain_frame(trained, frame, k):
    return churn.explain(frame, trained.onnx_artifact, trained.registration["onnx_sha256"], k)


# --- the estimator on functions whose Shapley values are known ---------------------


def test_an_additive_function_gets_its_exact_shapley_values():
    """f(x) = sum_j g_j(x_j): column j's Shapley value is g_j(x_j) - mean over the
    background rows used of g_j(b_j), whatever the orders sampled."""
    rng = np.random.default_rng(0)
    x, background = rng.normal(size=(7, 5)), rng.normal(size=(30, 5))
    blocks = [slice(0, 2), slice(2, 3), slice(3, 5)]  # columns of several slots, as one-hots

    def g(m):
        return np.stack([np.sin(m[:, 0]) + m[:, 1] ** 2, 3 * m[:, 2], m[:, 3] * m[:, 4]], 1)

    phi = explain.contributions(x, background, blocks, lambda m: g(m).sum(1), permutations=8)
    used = background[np.random.default_rng(explain.SEED).permutation(30)[:8]]
    assert np.allclose(phi, g(x) - g(used).mean(0), atol=1e-5)


def test_contributions_add_up_to_the_score_minus_the_background_mean():
    rng = np.random.default_rng(1)
    x, background = rng.normal(size=(5, 3)), rng.normal(size=(10, 3))

    def f(m):  # interactions: no column's effect stands alone
        return 1 / (1 + np.exp(-(2 * m[:, 0] * m[:, 1] + np.maximum(m[:, 2], 0))))

    phi = explain.contributions(x, background, [slice(i, i + 1) for i in range(3)], f,
                                permutations=4)
    used = background[np.random.default_rng(explain.SEED).permutation(10)[:4]]
    assert np.allclose(phi.sum(1), f(x.astype(np.float32)) - f(used.astype(np.float32)).mean(),
                       atol=1e-5)


def test_a_column_the_model_ignores_contributes_nothing():
    rng = np.random.default_rng(2)
    phi = explain.contributions(rng.normal(size=(4, 3)), rng.normal(size=(6, 3)),
                                [slice(i, i + 1) for i in range(3)],
                                lambda m: np.tanh(m[:, 0] + m[:, 2]))
    assert np.all(phi[:, 1] == 0)


# --- a trained model ----------------------------------------------------------------


@pytest.mark.slow
def test_the_planted_feature_is_named_first_with_the_right_sign(planted_model):
    customers = planted(400, seed=2).drop(columns=["churned"])
    reasons = explain_frame(planted_model, customers, 4)
    scores = churn.score(customers, planted_model.onnx_artifact,
                         planted_model.registration["onnx_sha256"])
    risky = customers.loc[customers.risk > 1.2, "customer_id"].astype(str)
    safe = customers.loc[customers.risk < 0.0, "customer_id"].astype(str)
    first = reasons[reasons["rank"] == 1].set_index("customer_id")
    assert (first.loc[risky, "feature"] == "risk").all()
    assert (first.loc[risky, "contribution"] > 0.1).all()
    risk = reasons[reasons.feature == "risk"].set_index("customer_id")["contribution"]
    assert (risk.reindex(safe).dropna() < 0).all(), "a low value lowers the risk"
    # Reasons come most risk-raising first, and carry the customer's own value as text.
    assert (reasons.groupby("customer_id")["contribution"].apply(
        lambda c: c.is_monotonic_decreasing)).all()
    one = customers.iloc[0]
    row = reasons[(reasons.customer_id == str(one.customer_id)) & (reasons.feature == "plan")]
    assert row.empty or row.feature_value.iloc[0] == one.plan
    assert len(scores) == len(customers)


@pytest.mark.slow
def test_every_customer_gets_k_reasons_and_k_zero_gives_none(planted_model):
    customers = planted(50, seed=3).drop(columns=["churned"])
    reasons = explain_frame(planted_model, customers, 3)
    assert reasons.groupby("customer_id").size().eq(3).all() and len(reasons) == 150
    assert list(reasons["rank"].iloc[:3]) == [1, 2, 3]
    assert list(reasons.columns) == ["customer_id", "rank", "feature", "feature_value",
                                     "contribution"]
    none = explain_frame(planted_model, customers, 0)
    assert none.empty and list(none.columns) == list(reasons.columns)
    assert len(explain_frame(planted_model, customers, 99)) == 50 * 4, "k caps at the columns"


@pytest.mark.slow
@pytest.mark.parametrize("k", [-1, 1.5, "three"])
def test_a_bad_k_is_refused_naming_explain(planted_model, k):
    with pytest.raises(InputError, match="explain must be a non-negative integer"):
        explain_frame(planted_model, planted(10, seed=4).drop(columns=["churned"]), k)


@pytest.mark.slow
def test_global_importance_is_recorded_most_important_first(planted_model):
    importance = planted_model.registration["metrics"]["feature_importance"]
    assert [f["feature"] for f in importance][0] == "risk"
    assert {f["feature"] for f in importance} == {"risk", "tenure", "plan", "spend"}
    values = [f["importance"] for f in importance]
    assert values == sorted(values, reverse=True) and values[0] > 0


@pytest.mark.slow
def test_the_entry_point_explains_as_the_kind_does(planted_model):
    customers = planted(20, seed=5).drop(columns=["churned"])
    via_entry = entrypoints.explain_churn(customers, planted_model.onnx_artifact,
                                          planted_model.registration["onnx_sha256"], 2)
    pd.testing.assert_frame_equal(via_entry, explain_frame(planted_model, customers, 2))
    # The PostgreSQL adapter's lean columns (numbers float64, ids and text as objects,
    # names in any case) explain the same rows the same way.
    columns = {"Customer_ID": customers.customer_id.astype(str).to_numpy(dtype=object),
               "risk": customers.risk.to_numpy(dtype=float),
               "tenure": customers.tenure.to_numpy(dtype=float),
               "plan": customers.plan.to_numpy(dtype=object),
               "spend": customers.spend.to_numpy(dtype=float)}
    via_columns = entrypoints.explain_churn_columns(
        columns, len(customers), planted_model.onnx_artifact,
        planted_model.registration["onnx_sha256"], 2)
    pd.testing.assert_frame_equal(via_columns, via_entry)


@pytest.mark.slow
def test_typical_value_of_the_first_reason_lowers_the_riskiest_scores():
    """On threshold-and-interaction churn, with the default options: for the 20
    customers most at risk, their first reason set to a typical training value
    (median, or most frequent category) lowers their score."""
    frame, _ = churn_calls_data.customers(2500, seed=31)
    trained = churn.train(frame, SPEC, {"ensemble_size": 1})
    test = churn_calls_data.customers(600, seed=32)[0].drop(columns=["churned"])
    sha = trained.registration["onnx_sha256"]
    scores = churn.score(test, trained.onnx_artifact, sha).set_index("customer_id")
    riskiest = scores.churn_probability.nlargest(20).index
    reasons = churn.explain(test, trained.onnx_artifact, sha, 3)
    first = reasons[reasons["rank"] == 1].set_index("customer_id").loc[riskiest]
    assert (first.contribution > 0).all()
    typical = {c: (frame[c].median() if pd.api.types.is_numeric_dtype(frame[c])
                   else frame[c].mode().iloc[0]) for c in frame.columns}
    changed = test.set_index("customer_id").loc[riskiest].copy()
    for customer, feature in first.feature.items():
        changed[feature] = changed[feature].astype(object)
        changed.loc[customer, feature] = typical[feature]
    after = churn.score(changed.reset_index(), trained.onnx_artifact, sha)
    after = after.set_index("customer_id").churn_probability
    assert (after.loc[riskiest] < scores.churn_probability.loc[riskiest]).all()


@pytest.mark.slow
def test_explanations_import_neither_tensorflow_nor_scikit_learn(planted_model, tmp_path):
    """The scoring path: ONNX Runtime and NumPy only (TensorFlow alone takes seconds)."""
    import subprocess
    import sys

    (tmp_path / "model.bin").write_bytes(planted_model.onnx_artifact)
    planted(30, seed=6).drop(columns=["churned"]).to_csv(tmp_path / "customers.csv", index=False)
    script = f"""
import sys
for blocked in ("tensorflow", "keras", "sklearn"):
    sys.modules[blocked] = None  # importing any of them now fails
import pandas as pd
from sqlml.kinds.churn import explain
frame = pd.read_csv({str(tmp_path / "customers.csv")!r})
blob = open({str(tmp_path / "model.bin")!r}, "rb").read()
print(len(explain.explain(frame, blob, {planted_model.registration["onnx_sha256"]!r}, 2)))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "60"


@pytest.mark.slow
def test_the_sql_server_adapter_returns_scores_and_reasons_in_one_result_set(planted_model):
    """ml.score_churn's @script with @explain: a score row (rank NULL) per customer, then
    k reason rows per customer (probability NULL), as WITH RESULT SETS declares them."""
    from sqlml.adapters import mssql

    customers = planted(40, seed=7).drop(columns=["churned"])
    sha = planted_model.registration["onnx_sha256"]
    # 40 customers: drift is measured here from 10 rows up (the spec's minimum is 100)
    profile = json.dumps({**planted_model.registration["feature_schema"]["profile"],
                          "min_rows": 10})
    out, drift, error = mssql.score_churn_explained_with_drift(
        customers, planted_model.onnx_artifact, sha, 2, profile)
    assert error is None
    # @drift OUTPUT: the same JSON rows the plain @script hands to OPENJSON
    assert {d["feature"] for d in json.loads(drift)} == {"risk", "tenure", "plan", "spend"}
    assert list(out.columns) == ["customer_id", "churn_probability", "rank", "feature",
                                 "feature_value", "contribution"]
    scores, reasons = out[out["rank"].isna()], out[out["rank"].notna()]
    assert len(scores) == 40 and scores.churn_probability.between(0, 1).all()
    assert len(reasons) == 80 and reasons.churn_probability.isna().all()
    assert set(reasons["rank"]) == {1.0, 2.0} and out["feature"].dtype == object
    expected = churn.score(customers, planted_model.onnx_artifact, sha)
    assert list(scores.customer_id) == list(expected.customer_id)
    only_scores, _, _ = mssql.score_churn_explained_with_drift(
        customers, planted_model.onnx_artifact, sha, 0, profile)
    assert len(only_scores) == 40 and only_scores["rank"].isna().all()
    empty, no_drift, error = mssql.score_churn_explained_with_drift(
        customers, planted_model.onnx_artifact, sha, -2, profile)
    assert empty.empty and list(empty.columns) == list(out.columns) and no_drift is None
    assert error.startswith("sqlml: churn scoring: explain must be a non-negative integer")
