"""Contracts of the forecaster procedures' embedded Python, fed from the PostgreSQL engine.

Training runs through ops.run_train's @script (which ml.train_forecaster calls);
its OUTPUT parameters then
feed ops.run_forecast's @script (ml.forecast's work), as the T-SQL procedures chain them.
"""

import json
import re

import pandas as pd
import pytest

from sqlml.demo import series_data

from .harness import assert_trained, emptied_after, run_contract, train_contract, trained_fixture

pytestmark = pytest.mark.tsql_contract

FAST = json.dumps({"ensemble": 1, "units": 4, "epochs": 2, "patience": 1, "lookback": 24,
                   "validation_origins": 2, "refit": False})
SERIES = 6
INPUT = "SELECT * FROM features.forecast_input"


@pytest.fixture(scope="module")
def series(pg_engine):
    series_data.load_series(pg_engine, n_series=SERIES, length=72, min_length=72, seed=8)
    yield from emptied_after(pg_engine, "features.monthly_usage")


trained = trained_fixture("forecaster", "series", INPUT, FAST)


@pytest.mark.slow
def test_train_forecaster_returns_blobs_and_a_registration(series, profile):
    outcome = train_contract("forecaster", engine=series, input_sql=INPUT, options=FAST,
                             profile=profile)
    assert_trained(outcome, SERIES * 72, {"mase", "baseline_mase", "coverage", "smape", "rmse"})


@pytest.mark.slow
@pytest.mark.parametrize("horizon", [None, 5])
def test_forecast_returns_what_with_result_sets_declares(series, trained, profile, horizon):
    registration = json.loads(trained["registration"])
    outcome = run_contract(
        "ops.run_forecast", profile=profile, engine=series, input_sql=INPUT,
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


@pytest.mark.slow
def test_forecast_batches_of_series_carry_drift_to_the_drift_of_the_whole(series, trained,
                                                                         profile):
    """ops.run_forecast reads its input in ranges of the series id, one script each
    (issue 27): @drift_state carries every series' level and scale from batch to batch,
    so the last batch's @drift is the whole input's, and each batch forecasts its own
    series as the whole input would."""
    registration = json.loads(trained["registration"])
    params = {"onnx_artifact": trained["onnx_artifact"],
              "onnx_sha256": registration["onnx_sha256"], "horizon": None,
              "profile": json.dumps(registration["feature_schema"]["profile"])}
    whole = run_contract("ops.run_forecast", profile=profile, engine=series, input_sql=INPUT,
                         params=params)
    ids = sorted(whole.output["series_id"].unique())
    state, parts = None, []
    for chunk in (ids[:2], ids[2:5], ids[5:]):
        listed = ", ".join(f"'{i}'" for i in chunk)
        part = run_contract("ops.run_forecast", profile=profile, engine=series,
                            input_sql=f"{INPUT} WHERE series_id IN ({listed})",
                            params={**params, "drift_state": state})
        assert part.output_params["script_error"] is None
        assert part.output_params["series_read"] == len(chunk)
        state = part.output_params["drift_state"]
        parts.append(part.output)
    batched = {d["feature"]: d for d in json.loads(part.output_params["drift"])}
    one = {d["feature"]: d for d in json.loads(whole.output_params["drift"])}
    assert batched.keys() == one.keys() == {"series_level", "series_scale"}
    for feature, d in one.items():
        assert d["psi"] == pytest.approx(batched[feature]["psi"], abs=1e-12), feature
        assert d["detail"] == batched[feature]["detail"], feature
    key = ["series_id", "step"]
    got = pd.concat(parts).sort_values(key).reset_index(drop=True)
    expected = whole.output.sort_values(key).reset_index(drop=True)
    assert got[key + ["period"]].equals(expected[key + ["period"]])
    for column in ("forecast", "lower", "upper"):
        assert (got[column] - expected[column]).abs().max() <= 1e-6


@pytest.mark.slow
def test_forecast_refuses_a_wrong_hash_with_its_own_sentence(series, trained):
    """The error leaves the script as @script_error (THROW 50602 in ops.run_forecast), not as
    an exception that SQL Server would report only as the generic Msg 39004."""
    outcome = run_contract(
        "ops.run_forecast", profile="ml_services", engine=series, input_sql=INPUT,
        params={"onnx_artifact": trained["onnx_artifact"], "onnx_sha256": "0" * 64,
                "horizon": None, "profile": None},
    )
    assert outcome.output_params["script_error"].startswith("sqlml: ")
    assert "sha256" in outcome.output_params["script_error"]
    assert outcome.output is not None and outcome.output.empty


# --- other frequencies ---------------------------------------------------------------

TINY = {"ensemble": 1, "units": 4, "epochs": 1, "patience": 1, "refit": False}


def generated(start, stop, step, kind="date"):
    return ("SELECT 's' || s AS series_id, p::" + kind + " AS period,"
            " 100 + 10 * s + 8 * sin(extract(isodow FROM p) + s)"
            " + 5 * sin(extract(hour FROM p) * 0.26) AS value"
            " FROM generate_series(1, 3) AS s,"
            f" generate_series('{start}'::timestamp, '{stop}'::timestamp, '{step}') AS p")


DAILY = generated("2025-01-01", "2025-05-31", "1 day")


@pytest.fixture(scope="module")
def daily(series):
    return train_contract("forecaster", engine=series, input_sql=DAILY,
                          options=json.dumps({**TINY, "horizon": 7})).output_params


@pytest.mark.slow
def test_daily_forecasts_continue_the_calendar_as_datetime2(series, daily, profile):
    registration = json.loads(daily["registration"])
    assert registration["feature_schema"]["frequency"] == "daily"
    assert registration["metrics"]["season"] == 7.0
    rows = run_contract(
        "ops.run_forecast", profile=profile, engine=series, input_sql=DAILY,
        params={"onnx_artifact": daily["onnx_artifact"],
                "onnx_sha256": registration["onnx_sha256"], "horizon": None, "profile": None},
    ).output
    assert len(rows) == 3 * 7 and str(rows["period"].dtype) == "datetime64[ns]"
    assert str(rows["period"].min()) == "2025-06-01 00:00:00"


@pytest.mark.slow
def test_forecasting_monthly_series_with_a_daily_model_names_both(series, daily):
    registration = json.loads(daily["registration"])
    outcome = run_contract(
        "ops.run_forecast", profile="ml_services", engine=series, input_sql=INPUT,
        params={"onnx_artifact": daily["onnx_artifact"],
                "onnx_sha256": registration["onnx_sha256"], "horizon": None, "profile": None},
    )
    assert re.search("trained on daily series, but series .* is monthly",
                     outcome.output_params["script_error"])
    assert outcome.output is not None and outcome.output.empty


@pytest.mark.slow
def test_hourly_periods_arrive_as_datetime2_and_forecasts_keep_their_minute(series):
    # ML Services takes no DATETIME2 input (CAST to DATETIME there); the language
    # extension does.
    query = generated("2025-03-01 00:30", "2025-03-08 23:30", "1 hour", kind="timestamp")
    trained = train_contract(
        "forecaster", engine=series, input_sql=query, profile="language_extension",
        options=json.dumps({**TINY, "horizon": 6, "lookback": 48}),
    ).output_params
    registration = json.loads(trained["registration"])
    assert registration["metrics"]["frequency"] == "hourly"
    rows = run_contract(
        "ops.run_forecast", profile="language_extension", engine=series, input_sql=query,
        params={"onnx_artifact": trained["onnx_artifact"],
                "onnx_sha256": registration["onnx_sha256"], "horizon": None,
                "profile": json.dumps(registration["feature_schema"]["profile"])},
    ).output
    assert sorted(str(p) for p in rows["period"].unique())[:2] == [
        "2025-03-09 00:30:00", "2025-03-09 01:30:00"]


# --- the base chosen on validation ------------------------------------------------------

QUARTERLY = ("SELECT series_id, period, value * (1 + 0.1 * extract(quarter FROM period))"
             " AS value FROM (" + generated("2010-01-01", "2024-10-01", "3 months") + ") q")


@pytest.mark.slow
def test_the_registration_records_the_chosen_base_and_forecasting_fits_it(series, profile):
    """Training's @script chooses a statsforecast base on validation and records it per
    series; ops.run_forecast's @script then fits that base on the history it reads."""
    trained = train_contract("forecaster", engine=series, input_sql=QUARTERLY,
                             options=json.dumps({**TINY, "horizon": 8}),
                             profile=profile).output_params
    registration = json.loads(trained["registration"])
    record = registration["metrics"]["choice"]
    assert record["candidate"] and record["network"] in ("off", "alone", "blend")
    assert [s["series_id"] for s in record["series"]] == ["s1", "s2", "s3"]
    assert all("seasonal_naive" in s["backtest_mase"] for s in record["series"])
    rows = run_contract(
        "ops.run_forecast", profile=profile, engine=series, input_sql=QUARTERLY,
        params={"onnx_artifact": trained["onnx_artifact"],
                "onnx_sha256": registration["onnx_sha256"], "horizon": 4, "profile": None},
    ).output
    assert len(rows) == 3 * 4 and str(rows["period"].min())[:10] == "2025-01-01"
    assert ((rows["lower"] <= rows["forecast"]) & (rows["forecast"] <= rows["upper"])).all()
