"""Promotion between two deployed databases: a churn model and a forecaster exported
from one and imported into another score and forecast the same rows identically,
with their lineage, and the target binds the blob with its own key."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from sql_helpers import call, load_customers, train_churn
from sqlml import cli
from sqlml.demo import series_data
from sqlml.deploy import deploy

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FORECAST_FAST = json.dumps({"ensemble": 2, "units": 8, "epochs": 3, "patience": 2,
                            "lookback": 24, "validation_origins": 3})


@pytest.fixture
def target(scratch_url):
    deploy(scratch_url, log=lambda message: None)
    engine = sa.create_engine(scratch_url)
    yield scratch_url, engine
    engine.dispose()


def _promote(source_url, target_url, name, tmp_path):
    out = tmp_path / f"{name}.sqlml.json"
    assert cli.main(["models", "export", "--name", name, "--out", str(out),
                     "--url", source_url]) == 0
    return out


def test_churn_and_forecaster_promoted_score_and_forecast_identically(db, pg_url, target,
                                                                      tmp_path):
    target_url, target_engine = target
    load_customers(db, 300, seed=8)
    load_customers(target_engine, 300, seed=8)
    train_churn(db)
    series_data.load_series(db, n_series=4, length=60, min_length=60, seed=2)
    series_data.load_series(target_engine, n_series=4, length=60, min_length=60, seed=2)
    call(db, "SELECT * FROM ml.train_forecaster(model_name => 'forecast', "
             "options => :options)", options=FORECAST_FAST)
    for name in ("churn", "forecast"):
        out = _promote(pg_url, target_url, name, tmp_path)
        assert cli.main(["models", "import", str(out), "--name", name, "--activate",
                         "--url", target_url]) == 0

    score = "SELECT * FROM ml.score_churn(model_name => 'churn')"
    forecast = "SELECT * FROM ml.forecast(model_name => 'forecast')"
    scores, forecasts = [], []
    for engine in (db, target_engine):
        call(engine, score)
        call(engine, forecast)
        scores.append(call(engine, "SELECT customer_id, churn_probability FROM "
                                   "predictions.churn_latest ORDER BY customer_id"))
        forecasts.append(call(engine, "SELECT series_id, period, forecast, lower, upper FROM "
                                      "predictions.forecast_latest ORDER BY series_id, period"))
    assert scores[0] == scores[1] and len(scores[0]) == 300
    assert forecasts[0] == forecasts[1] and forecasts[0]

    source = {r["model_name"]: r for r in call(
        db, "SELECT model_id, model_name, version, onnx_sha256, onnx_binding FROM models.registry")}
    for row in call(target_engine, "SELECT model_name, kind, version, status, lineage, "
                                   "onnx_sha256, onnx_binding, metrics FROM models.registry"):
        origin = source[row["model_name"]]
        assert (row["version"], row["status"]) == (1, "active")
        assert row["lineage"]["model_id"] == origin["model_id"]
        assert row["lineage"]["source"].endswith(sa.engine.make_url(pg_url).database)
        assert row["onnx_sha256"] == origin["onnx_sha256"]
        # Each database binds with its own key: the same blob, another binding.
        assert row["onnx_binding"] != origin["onnx_binding"]
