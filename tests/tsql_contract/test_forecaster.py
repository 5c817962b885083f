"""Contracts of the forecaster procedures' embedded Python, fed from the PostgreSQL engine.

Training runs through ops.train_model's @script (which ml.train_forecaster calls);
its OUTPUT parameters then
feed ml.forecast's @script, as the T-SQL procedures chain them.
"""

import json

import pytest
import sqlalchemy as sa

from sqlml.demo import series_data

from .harness import run_contract

pytestmark = pytest.mark.tsql_contract

FAST = json.dumps({"ensemble": 1, "units": 4, "epochs": 2, "patience": 1, "lookback": 24,
                   "validation_origins": 2, "refit": False})
SERIES = 6
INPUT = "SELECT * FROM features.forecast_input"


def _spec(engine) -> str:
    with engine.connect() as connection:
        spec = connection.execute(
            sa.text("SELECT spec FROM models.specs WHERE kind = 'forecaster'")).scalar_one()
    return json.dumps(spec)


@pytest.fixture(scope="module")
def series(pg_engine):
    series_data.load_series(pg_engine, n_series=SERIES, length=72, min_length=72, seed=8)
    yield pg_engine
    with pg_engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM features.monthly_usage")


@pytest.fixture(scope="module")
def trained(series):
    """The OUTPUT parameters of one ops.train_model run for ml.train_forecaster
    (ML Services profile)."""
    return run_contract(
        "ops.train_model", profile="ml_services", engine=series, input_sql=INPUT,
        params={"kind": "forecaster", "spec": _spec(series), "options": FAST},
    ).output_params


def test_train_forecaster_returns_blobs_and_a_registration(series, profile):
    outcome = run_contract(
        "ops.train_model", profile=profile, engine=series, input_sql=INPUT,
        params={"kind": "forecaster", "spec": _spec(series), "options": FAST},
    )
    out = outcome.output_params
    registration = json.loads(out["registration"])
    assert out["artifact"][:2] == b"PK" and out["onnx_artifact"][:2] == b"PK"
    assert registration["trained_rows"] == SERIES * 72
    assert {"mase", "baseline_mase", "coverage", "smape", "rmse"} <= set(registration["metrics"])
    assert "epoch 1/2" in outcome.messages  # progress reaches SQL Server's messages


@pytest.mark.parametrize("horizon", [None, 5])
def test_forecast_returns_what_with_result_sets_declares(series, trained, profile, horizon):
    registration = json.loads(trained["registration"])
    outcome = run_contract(
        "ml.forecast", profile=profile, engine=series, input_sql=INPUT,
        params={"onnx_artifact": trained["onnx_artifact"],
                "onnx_sha256": registration["onnx_sha256"], "horizon": horizon,
                "profile": json.dumps(registration["feature_schema"]["profile"])},
    )
    rows = outcome.output
    drift = {d["feature"]: d for d in json.loads(outcome.output_params["drift"])}
    assert set(drift) == {"series_level", "series_scale"}
    assert not drift["series_level"]["flagged"]
    steps = horizon or 12
    assert len(rows) == SERIES * steps
    assert sorted(rows["step"].unique()) == list(range(1, steps + 1))
    assert (rows["lower"] <= rows["forecast"]).all() and (rows["forecast"] <= rows["upper"]).all()


def test_forecast_refuses_a_wrong_hash_with_its_own_sentence(series, trained):
    """The error leaves the script as @script_error (THROW 50602 in ml.forecast), not as
    an exception that SQL Server would report only as the generic Msg 39004."""
    outcome = run_contract(
        "ml.forecast", profile="ml_services", engine=series, input_sql=INPUT,
        params={"onnx_artifact": trained["onnx_artifact"], "onnx_sha256": "0" * 64,
                "horizon": None, "profile": None},
    )
    assert outcome.output_params["script_error"].startswith("sqlml: ")
    assert "sha256" in outcome.output_params["script_error"]
    assert outcome.output is not None and outcome.output.empty
