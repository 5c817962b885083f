"""The churn model without a database: preprocessing, input checks, artifacts, learning."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from sql_helpers import assert_no_pickle
from sqlml import artifacts
from sqlml.demo import churn_data
from sqlml.errors import ArtifactError, InputError
from sqlml.kinds.churn import model as churn
from sqlml.kinds.churn.preprocessing import Preprocessor
from sqlml.paths import project_root

pytestmark = pytest.mark.unit

SPEC = json.loads((project_root() / "models" / "churn.json").read_text())
FAST = {"epochs": 4, "hidden_units": [16], "patience": 2}


@pytest.fixture(scope="module")
def trained():
    frame, _ = churn_data.customers(3000, seed=11)
    return churn.train(frame, SPEC, FAST)


def small_frame(n=200, seed=3):
    frame, _ = churn_data.customers(n, seed=seed)
    return frame


# --- preprocessing ---------------------------------------------------------------


def test_preprocessing_imputes_scales_and_buckets_unseen_categories():
    train = pd.DataFrame({
        "charges": [10.0, 20.0, None, 40.0, 30.0],
        "plan": ["a", "a", "b", "b", None],
    })
    pre = Preprocessor.fit(train, max_categories=10, min_count=1)
    assert [c.name for c in pre.numeric] == ["charges"] and pre.numeric[0].indicator
    assert pre.categorical[0].vocabulary == ["a", "b"]
    x = pre.transform(pd.DataFrame({"charges": [None, 25.0], "plan": ["zzz", None]}))
    # charges (scaled), charges__missing, plan=missing, plan=unseen, plan=a, plan=b
    assert x.shape == (2, 6)
    assert x[0, 1] == 1.0 and x[1, 1] == 0.0
    assert x[0, 3] == 1.0, "an unseen category goes to the unseen slot"
    assert x[1, 2] == 1.0, "NULL goes to the missing slot"
    assert np.isclose(x[0, 0], x[1, 0]), "NULL is imputed with the training median (25)"


def test_preprocessing_round_trips_through_json():
    frame = small_frame().drop(columns=["customer_id", "churned"])
    pre = Preprocessor.fit(frame, 50, 5)
    again = Preprocessor.from_json(json.loads(json.dumps(pre.to_json())))
    assert np.array_equal(pre.transform(frame), again.transform(frame))


def test_text_numbers_with_blanks_are_numeric():
    pre = Preprocessor.fit(pd.DataFrame({"total": ["10.5", " ", "20", None]}), 10, 1)
    assert [c.name for c in pre.numeric] == ["total"]


def test_scoring_rejects_text_in_a_numeric_column_naming_it():
    pre = Preprocessor.fit(pd.DataFrame({"total": [1.0, 2.0, 3.0]}), 10, 1)
    with pytest.raises(InputError, match="'total' must be numeric.*'abc'"):
        pre.transform(pd.DataFrame({"total": ["1", "abc"]}))


def test_piecewise_linear_bins_draw_thresholds_a_scaled_column_cannot():
    train = pd.DataFrame({"calls": np.arange(200) % 8, "flag": np.arange(200) % 2,
                          "charge": np.linspace(0, 100, 200)})
    pre = Preprocessor.fit(train, 10, 1, bins=4)
    calls, flag, charge = pre.numeric
    assert calls.edges == [0.0, 1.0, 3.0, 5.0, 7.0], "edges are training values"
    assert flag.edges == [], "a 0/1 column needs no bins"
    assert len(charge.edges) == 5 and charge.width == 5
    x = pre.transform(pd.DataFrame({"calls": [0, 8], "flag": [1, 0], "charge": [30.0, 1e6]}))
    block = x[:, pre.blocks()["charge"]]
    assert np.all((block[:, 1:] >= 0) & (block[:, 1:] <= 1))
    assert np.allclose(block[1, 1:], 1.0), "beyond the last edge every bin is full"
    # 30 lies in the second quartile: first bin full, second partly, the rest empty.
    assert block[0, 1] == 1.0 and 0 < block[0, 2] < 1 and np.all(block[0, 3:] == 0)
    again = Preprocessor.from_json(json.loads(json.dumps(pre.to_json())))
    assert np.array_equal(again.transform(train), pre.transform(train))


def test_plain_positions_pick_the_unbinned_columns_out_of_the_matrix():
    frame = small_frame().drop(columns=["customer_id", "churned"])
    pre = Preprocessor.fit(frame, 50, 5, bins=8)
    plain = pre.without_bins().transform(frame)
    assert pre.width > plain.shape[1]
    assert np.array_equal(pre.transform(frame)[:, pre.plain_positions()], plain)


@pytest.mark.slow
def test_the_boosted_member_scores_alike_in_scikit_learn_numpy_and_onnx():
    import keras

    from sqlml.kinds.churn import booster

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 5)).astype(np.float32)
    y = ((x[:, 0] > 0.5) | ((x[:, 1] > 0) & (x[:, 2] < -0.3))).astype(int)
    fitted = booster.fit(x[:, [0, 1, 2]], y, seed=0)
    trees = booster.remap(booster.to_json(fitted), [0, 1, 2])
    assert np.allclose(booster.predict(trees, x), fitted.predict_proba(x[:, :3])[:, 1],
                       atol=1e-9)
    inputs = keras.Input(shape=(5,))
    net = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    graph = booster.attach(artifacts.onnx_bytes(net), trees, 0.5)
    got = artifacts.onnx_predict(artifacts.onnx_session(graph), x).reshape(-1)
    expected = booster.blend(0.5, net.predict(x, verbose=0).reshape(-1), booster.predict(trees, x))
    assert np.max(np.abs(got - expected)) < 1e-5


def test_the_network_can_start_from_logistic_regression_on_the_plain_columns():
    """The start the guarantee rests on: before any training step the network computes
    the logistic regression of the chosen columns, the others weighing nothing."""
    from sqlml.kinds.churn import network

    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] + rng.normal(size=400) > 0).astype(int)
    opts = {**SPEC["options"], "hidden_units": [8]}
    model = network._start(x, y, opts, balanced=False, wide_inputs=[0, 2])
    expected = network.logistic_regression(x[:, [0, 2]], y, opts, False).predict_proba(
        x[:, [0, 2]])[:, 1]
    assert np.allclose(network.predict(model, x), expected, atol=1e-5)
    choice = network.choose_start(x[:300], y[:300], x[300:], y[300:], opts, [0, 2])
    assert choice["start"] in ("plain", "binned") and set(choice["start_valid_auc"]) == {
        "plain", "binned"}


# --- input checks ------------------------------------------------------------------


@pytest.mark.parametrize("drop, message", [
    ("customer_id", "no 'customer_id' column"),
    ("churned", "no 'churned' column"),
])
def test_training_requires_id_and_label(drop, message):
    with pytest.raises(InputError, match=message):
        churn.train(small_frame().drop(columns=[drop]), SPEC, FAST)


def test_labels_must_be_zero_or_one():
    frame = small_frame()
    frame.loc[3, "churned"] = 2
    with pytest.raises(InputError, match="'churned' must be 0 or 1; found 2"):
        churn.train(frame, SPEC, FAST)


def test_one_class_only_is_refused():
    frame = small_frame().assign(churned=0)
    with pytest.raises(InputError, match="only one class"):
        churn.train(frame, SPEC, FAST)


def test_too_few_rows_is_refused():
    with pytest.raises(InputError, match="too few"):
        churn.train(small_frame(20), SPEC, FAST)


def test_column_names_are_case_insensitive():
    features, y = churn.prepare_training(small_frame().rename(columns=str.upper), SPEC)
    assert "tenure_months" in features.columns and len(y) == 200


@pytest.mark.parametrize("options, message", [
    ('{"epoch": 3}', "unknown option 'epoch'"),
    ('{"epochs": "ten"}', "'epochs' .* must be a non-negative integer"),
    ('{"dropout": 1.5}', "'dropout' .* between 0 and 0.9"),
    ('{"class_weight": "heavy"}', "'class_weight' .* out of range"),
    ("[1, 2]", "must be a JSON object"),
    ("{not json", "not valid JSON"),
])
def test_bad_options_name_the_option(options, message):
    with pytest.raises(InputError, match=message):
        churn.train(small_frame(), SPEC, options)


# --- training, artifacts, scoring --------------------------------------------------


@pytest.mark.slow
def test_metrics_and_baseline_are_recorded(trained):
    metrics = trained.registration["metrics"]
    for key in ("auc", "pr_auc", "log_loss", "brier", "accuracy", "threshold", "n_train",
                "n_valid", "baseline_auc"):
        assert key in metrics, key
    assert metrics["n_train"] + metrics["n_valid"] == 3000
    assert metrics["baseline"]["model"] == "logistic_regression"
    assert 0.5 < metrics["gbm_auc"] <= 1 and metrics["gbm"]["model"] == "hist_gradient_boosting"
    assert len(metrics["members"]) == SPEC["options"]["ensemble_size"]
    assert metrics["blend"]["network_weight"] in (1.0, 0.75, 0.5) and metrics["blend"]["reason"]
    assert trained.registration["device"].startswith(("CPU", "GPU"))


@pytest.mark.slow
def test_keras_and_onnx_agree_within_1e_5(trained):
    onnx_bundle = artifacts.unpack(trained.onnx_artifact, trained.registration["onnx_sha256"])
    pre = Preprocessor.from_json(onnx_bundle.preprocessing["features"])
    x = pre.transform(small_frame(500, seed=21))
    expected = churn.keras_predict(trained.artifact, trained.registration["artifact_sha256"], x)
    got = artifacts.onnx_predict(artifacts.onnx_session(onnx_bundle.model_bytes), x).reshape(-1)
    assert np.max(np.abs(expected - got)) < 1e-5


@pytest.mark.slow
def test_artifacts_hold_no_pickle(trained):
    assert_no_pickle(trained)


@pytest.mark.slow
def test_a_tampered_artifact_is_refused_before_loading(trained):
    blob = bytearray(trained.onnx_artifact)
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(ArtifactError, match="does not match its recorded sha256"):
        churn.score(small_frame(), bytes(blob), trained.registration["onnx_sha256"])


@pytest.mark.slow
def test_scoring_needs_every_feature_column(trained):
    frame = small_frame().drop(columns=["churned", "contract"])
    with pytest.raises(InputError, match="lacks feature column.*contract"):
        churn.score(frame, trained.onnx_artifact, trained.registration["onnx_sha256"])


@pytest.mark.slow
def test_scoring_refuses_duplicate_customers(trained):
    frame = small_frame()
    frame.loc[1, "customer_id"] = frame.loc[0, "customer_id"]
    with pytest.raises(InputError, match="duplicates"):
        churn.score(frame, trained.onnx_artifact, trained.registration["onnx_sha256"])


@pytest.mark.slow
def test_scoring_accepts_float_ids_as_sql_server_sends_bigint(trained):
    frame = small_frame().assign(customer_id=lambda f: f.customer_id.astype(float))
    scores = churn.score(frame, trained.onnx_artifact, trained.registration["onnx_sha256"])
    assert scores.customer_id.iloc[0] == str(frame.customer_id.iloc[0].astype(int))
    assert scores.churn_probability.between(0, 1).all()


@pytest.mark.slow
def test_the_model_finds_the_generators_signal():
    """Near the generator's own optimum on fresh customers, and not below the baseline."""
    frame, _ = churn_data.customers(12000, seed=5)
    out = churn.train(frame, SPEC, {"epochs": 25, "patience": 4})
    test, truth = churn_data.customers(10000, seed=6)
    scores = churn.score(test.drop(columns=["churned"]), out.onnx_artifact,
                         out.registration["onnx_sha256"])
    auc = roc_auc_score(test.churned, scores.churn_probability)
    optimum = roc_auc_score(test.churned, truth)
    metrics = out.registration["metrics"]
    assert auc > 0.80
    assert optimum - auc < 0.015, (auc, optimum)
    assert metrics["auc"] >= metrics["baseline_auc"] - 1e-9
