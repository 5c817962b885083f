"""Contracts of issue 26's embedded Python on SQL Server: ops.train_model measuring the
active version on the new version's held-out rows, and ops.run_evaluate (ml.evaluate's
work) for both kinds, each against an independent computation on the same rows."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from sqlml.demo import churn_data
from sqlml.demo.bulk import insert_frame

from .harness import emptied_after, run, run_contract, train_contract, trained_fixture
from .harness import load as load_call
from .tsql import parse_type

pytestmark = [pytest.mark.tsql_contract, pytest.mark.slow]

FAST = json.dumps({"epochs": 2, "hidden_units": [8], "patience": 1, "ensemble_size": 1})
CUSTOMERS = 400
INPUT = "SELECT * FROM features.churn_features"
CHURN, FORECASTER = 0, 1  # ops.run_evaluate's two external script calls


@pytest.fixture(scope="module")
def customers(pg_engine):
    frame, _ = churn_data.customers(CUSTOMERS, seed=29)
    insert_frame(pg_engine, "features.customers", frame)
    yield from emptied_after(pg_engine, "features.customers")


trained = trained_fixture("churn", "customers", INPUT, FAST)


def test_training_with_a_champion_records_it_on_the_same_rows(customers, trained):
    first = json.loads(trained["registration"])
    champion = {"model_id": 7, "version": 1, "onnx_artifact": trained["onnx_artifact"],
                "onnx_sha256": first["onnx_sha256"]}
    outcome = train_contract("churn", engine=customers, input_sql=INPUT,
                             options=json.dumps({**json.loads(FAST), "seed": 5}),
                             champion=champion)
    metrics = json.loads(outcome.output_params["registration"])["metrics"]
    same = metrics["same_rows"]
    assert (same["champion_model_id"], same["champion_version"], same["metric"]) == (7, 1, "auc")
    assert same["challenger"] == metrics["auc"] and same["rows"] == metrics["n_valid"]
    assert "error" not in same and 0.5 < same["champion"] <= 1


def test_evaluate_churn_equals_the_auc_of_the_scores(customers, trained, profile):
    registration = json.loads(trained["registration"])
    blob, sha = trained["onnx_artifact"], registration["onnx_sha256"]
    scored = run_contract("ops.run_score_churn", profile=profile, engine=customers, call=0,
                          input_sql=INPUT,
                          params={"onnx_artifact": blob, "onnx_sha256": sha, "profile": None})
    labels = dict(customers.connect().exec_driver_sql(
        "SELECT customer_id::text, churned FROM features.churn_features").all())
    y = scored.output["customer_id"].map(labels).astype(int).to_numpy()
    p = scored.output["churn_probability"].to_numpy()
    outcome = run_contract(
        "ops.run_evaluate", profile=profile, engine=customers, call=CHURN,
        input_sql=INPUT,
        params={"onnx_artifact": blob, "onnx_sha256": sha,
                "recorded": json.dumps(registration["metrics"]),
                "spec_input": json.dumps({"id_column": "customer_id",
                                          "label_column": "churned"})})
    out = outcome.output_params
    assert out["script_error"] is None and out["rows"] == CUSTOMERS
    realised = json.loads(out["metrics"])
    assert abs(realised["auc"] - skm.roc_auc_score(y, p)) < 1e-6
    assert realised["brier"] == pytest.approx(np.mean((np.clip(p, 1e-7, 1 - 1e-7) - y) ** 2))


def test_evaluate_churn_without_outcomes_is_an_error_naming_the_column(customers, trained):
    registration = json.loads(trained["registration"])
    outcome = run_contract(
        "ops.run_evaluate", profile="ml_services", engine=customers, call=CHURN,
        input_sql="SELECT customer_id, contract FROM features.churn_features",
        params={"onnx_artifact": trained["onnx_artifact"],
                "onnx_sha256": registration["onnx_sha256"],
                "recorded": json.dumps(registration["metrics"]),
                "spec_input": json.dumps({"id_column": "customer_id",
                                          "label_column": "churned"})})
    assert "no 'churned' column" in outcome.output_params["script_error"]


def test_evaluate_forecaster_equals_an_independent_computation(profile):
    periods = pd.date_range("2020-01-01", periods=36, freq="MS")
    rng = np.random.default_rng(3)
    actual = {sid: 100 + 10 * np.sin(np.arange(36) * 2 * np.pi / 12) + rng.normal(0, 2, 36)
              for sid in ("a", "b")}
    rows = [(sid, p.to_pydatetime(), float(v)) for sid, values in actual.items()
            for p, v in zip(periods, values, strict=True)]
    forecasts, expected = [], {"mase": [], "smape": [], "inside": []}
    for sid, values in actual.items():
        f = values[-6:] + rng.normal(0, 3, 6)
        lo, hi = f - 4, f + 4
        forecasts += [{"series_id": sid, "period": p.strftime("%Y-%m-%dT%H:%M:%S"),
                       "forecast": float(a), "lower": float(b), "upper": float(c)}
                      for p, a, b, c in zip(periods[-6:], f, lo, hi, strict=True)]
        history = values[:-6]
        scale = np.mean(np.abs(history[12:] - history[:-12]))
        err = np.abs(values[-6:] - f)
        expected["mase"].append(err.mean() / scale)
        expected["smape"].append(np.mean(200 * err / (np.abs(values[-6:]) + np.abs(f))))
        expected["inside"] += list((values[-6:] >= lo) & (values[-6:] <= hi))
    columns = [("series_id", parse_type("NVARCHAR(128)")), ("period", parse_type("DATE")),
               ("value", parse_type("FLOAT"))]
    outcome = run(load_call("ops.run_evaluate", FORECASTER), profile=profile, columns=columns,
                  rows=rows, params={"forecasts": json.dumps(forecasts), "season": 12})
    out = outcome.output_params
    assert out["script_error"] is None and out["rows"] == 12
    realised = json.loads(out["metrics"])
    assert realised["mase"] == pytest.approx(np.mean(expected["mase"]), rel=1e-9)
    assert realised["smape"] == pytest.approx(np.mean(expected["smape"]), rel=1e-9)
    assert realised["coverage"] == pytest.approx(np.mean(expected["inside"]))
