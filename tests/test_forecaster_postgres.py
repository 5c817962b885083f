"""The forecaster procedures end to end on PostgreSQL: the public SQL interface, in PL/Python."""

import json
import re

import pytest
import sqlalchemy as sa

import sql_helpers
from sql_helpers import (
    assert_activation_rule_keeps_the_champion,
    assert_refuses_other_kind,
    assert_refuses_tampered_blob,
    call,
    count,
    runs,
)
from sqlml.demo import series_data

pytestmark = pytest.mark.postgres

FAST = json.dumps({"ensemble": 2, "units": 8, "epochs": 3, "patience": 2, "lookback": 24,
                   "validation_origins": 3})
SERIES = 12
SOURCE = "SELECT series_id, period, value FROM features.monthly_usage"


@pytest.fixture
def series(db):
    series_data.load_series(db, n_series=SERIES, length=84, min_length=72, seed=4)
    return db



def train(engine, name="forecast", query=None, options=FAST, activate=True):
    return sql_helpers.train(engine, "train_forecaster", name, query, options, activate)


def forecast(engine, name="forecast", horizon=None, query=None):
    [row] = call(engine, "SELECT * FROM ml.forecast(model_name => :name, horizon => :horizon,"
                         " input_query => :query)", name=name, horizon=horizon, query=query)
    return row




@pytest.mark.slow
def test_train_registers_a_forecaster_with_backtest_metrics(series):
    row = train(series)
    assert (row["model_name"], row["version"], row["status"]) == ("forecast", 1, "active")
    metrics = json.loads(row["metrics"])
    assert metrics["n_series"] == SERIES and metrics["horizon"] == 12
    assert metrics["mase"] > 0 and metrics["baseline_mase"] > 0 and 0 <= metrics["coverage"] <= 1
    [reg] = call(series, "SELECT * FROM models.registry")
    assert reg["kind"] == "forecaster" and reg["device"].startswith(("CPU", "GPU"))
    assert reg["spec"]["options"]["lookback"] == 24 and reg["metrics"]["mase"] == metrics["mase"]
    assert reg["status_reason"].startswith("activated: first active version (validation mase")
    last = runs(series)[-1]
    assert (last["run_type"], last["status"]) == ("train_forecaster", "succeeded")


@pytest.mark.slow
def test_forecast_writes_one_batch_that_analysts_read_from_the_view(series):
    train(series)
    result = forecast(series)
    assert result["rows_written"] == SERIES * 12 and result["version"] == 1
    assert count(series, "predictions.forecasts", f"run_id = {result['run_id']}") == SERIES * 12
    rows = call(series, "SELECT * FROM predictions.forecast_latest ORDER BY series_id, step")
    assert len(rows) == SERIES * 12 and rows[0]["model_name"] == "forecast"
    assert all(r["lower"] <= r["forecast"] <= r["upper"] for r in rows)
    assert [r["step"] for r in rows[:12]] == list(range(1, 13))
    # the demo series end in December 2025; periods are timestamps (midnight here)
    assert str(rows[0]["period"]) == "2026-01-01 00:00:00"
    last = runs(series)[-1]
    assert (last["run_type"], last["status"], last["rows_in"], last["rows_out"]) == (
        "forecast", "succeeded", SERIES, SERIES * 12)


@pytest.mark.slow
def test_a_shorter_horizon_and_a_second_run_replace_what_the_view_shows(series):
    train(series)
    forecast(series)
    second = forecast(series, horizon=3)
    assert second["rows_written"] == SERIES * 3
    assert count(series, "predictions.forecast_latest") == SERIES * 3
    assert count(series, "predictions.forecast_latest", f"run_id = {second['run_id']}") == (
        SERIES * 3)


@pytest.mark.slow
def test_a_horizon_beyond_training_names_the_model_and_writes_nothing(series):
    train(series)
    with pytest.raises(sa.exc.DBAPIError,
                       match=r"horizon 13 is beyond what model 'forecast' \(version 1\) was "
                             r"trained for: 1 to 12 periods"):
        forecast(series, horizon=13)
    assert count(series, "predictions.forecasts") == 0
    assert runs(series)[-1]["status"] == "failed"


@pytest.mark.slow
def test_the_activation_rule_compares_backtest_mase_on_the_same_periods(series):
    reason = assert_activation_rule_keeps_the_champion(series, train)
    if reason is None:
        pytest.skip("the first version did not beat seasonal naive, so nothing was active")
    assert reason.startswith("candidate: mase ") and "active version 1's" in reason
    assert "(the challenger's backtest: each series' last 12 periods)" in reason
    [third] = call(series, "SELECT metrics FROM models.registry WHERE version = 3")
    same = third["metrics"]["same_rows"]
    assert same["champion_version"] == 1 and same["rows"] == third["metrics"]["n_test_points"]
    assert same["challenger"] == third["metrics"]["mase"]


@pytest.mark.slow
def test_mid_month_dates_count_as_their_month_and_gaps_are_interpolated(series):
    query = (f"SELECT series_id, period + 14 AS period, CASE WHEN extract(month FROM period) = 6"
             f" AND series_id LIKE 'north%' THEN NULL ELSE value END AS value FROM ({SOURCE}) s"
             " WHERE NOT (extract(month FROM period) = 3 AND series_id LIKE 'south%')")
    row = train(series, query=query)
    assert json.loads(row["metrics"])["filled_points"] > 0
    result = forecast(series, query=query)
    assert result["rows_written"] == SERIES * 12
    # forecasts keep the input's day of the month, so they join back to its rows
    assert count(series, "predictions.forecasts", "extract(day FROM period) <> 15") == 0
    month_ends = ("SELECT series_id, (period + interval '1 month' - interval '1 day')::date"
                  f" AS period, value FROM ({SOURCE}) s")
    result = forecast(series, query=month_ends)
    assert count(series, "predictions.forecasts", f"run_id = {result['run_id']} AND "
                 "period <> (date_trunc('month', period) + interval '1 month - 1 day')::date") == 0


BAD_TRAINING = [
    (f"SELECT series_id, period, value FROM ({SOURCE}) s UNION ALL SELECT series_id,"
     " period + 3, value FROM features.monthly_usage WHERE series_id = 'north/basic/m00'"
     " AND period = '2025-06-01'",
     r"series 'north/basic/m00' has more than one row for 2025-06"),
    (f"SELECT * FROM ({SOURCE}) s WHERE series_id <> 'east/basic/m00'"
     " OR period > '2023-12-01'",
     r"series 'east/basic/m00' is shorter than 36 months"),
    (f"SELECT * FROM ({SOURCE}) s WHERE series_id <> 'west/basic/m00'"
     " OR period NOT BETWEEN '2022-01-01' AND '2023-06-01'",
     r"series 'west/basic/m00' has no value for 18 months \(2022-01 to 2023-06\)"),
    (f"SELECT series_id, CASE WHEN series_id = 'central/basic/m00' AND period = '2024-01-01'"
     f" THEN NULL ELSE period END AS period, value FROM ({SOURCE}) s",
     r"'period' is NULL in 1 row\(s\), first in series 'central/basic/m00'"),
    ("SELECT series_id, period FROM features.monthly_usage", "no 'value' column"),
    ("SELECT * FROM features.monthly_usage WHERE false", "input_query returned no rows"),
]


@pytest.mark.parametrize("query, message", BAD_TRAINING)
def test_bad_training_input_fails_clearly_and_registers_nothing(series, query, message):
    with pytest.raises(sa.exc.DBAPIError, match=message):
        train(series, query=query)
    assert count(series, "models.registry") == 0
    [failed] = runs(series)
    assert failed["status"] == "failed" and failed["run_type"] == "train_forecaster"
    assert re.search(message, failed["error"]), failed["error"]


@pytest.mark.slow
def test_bad_forecast_input_writes_nothing(series):
    train(series)
    query = (f"SELECT * FROM ({SOURCE}) s WHERE series_id <> 'south/basic/m00'"
             " OR period > '2024-06-01'")
    with pytest.raises(sa.exc.DBAPIError, match="series 'south/basic/m00' is shorter than 24"):
        forecast(series, query=query)
    negative = f"SELECT series_id, period, value - 1000000 AS value FROM ({SOURCE}) s"
    with pytest.raises(sa.exc.DBAPIError, match="has a value <= 0"):
        forecast(series, query=negative)
    assert count(series, "predictions.forecasts") == 0
    assert [r["status"] for r in runs(series)][-2:] == ["failed", "failed"]


def test_unknown_option_and_unknown_model_fail_clearly(series):
    with pytest.raises(sa.exc.DBAPIError, match="unknown option 'epoch'"):
        train(series, options='{"epoch": 3}')
    with pytest.raises(sa.exc.DBAPIError, match="model 'nobody' not found"):
        forecast(series, name="nobody")
    assert count(series, "models.registry") == 0 and count(series, "predictions.forecasts") == 0


@pytest.mark.slow
def test_a_churn_model_cannot_forecast(series):
    train(series)
    assert_refuses_other_kind(series, lambda: forecast(series), "churn", "forecaster")


@pytest.mark.slow
def test_a_tampered_model_blob_is_refused_and_nothing_is_written(series):
    train(series)
    assert_refuses_tampered_blob(series, lambda: forecast(series), "predictions.forecasts")


@pytest.mark.slow
def test_the_demo_trains_forecasts_and_shows_series_from_the_view(db, capsys):
    from sqlml.demo import forecast as demo_forecast

    demo_forecast.run_forecast_demo(db, options=json.loads(FAST), n_series=8, daily_series=4)
    shown = capsys.readouterr().out
    assert "ml.train_forecaster: forecast version 1 (active)" in shown
    assert "wrote 96 rows" in shown and "epoch 1/3" in shown
    assert "predictions.forecast_latest (forecast)" in shown and "step 12" in shown
    # and a daily model, trained with nothing but a horizon
    assert "ml.train_forecaster: forecast_daily version 1 (active)" in shown
    assert "daily series, season 7" in shown and "wrote 56 rows" in shown
    assert "predictions.forecast_latest (forecast_daily)" in shown and "step 14" in shown


# --- other frequencies ---------------------------------------------------------------

TINY = {"ensemble": 1, "units": 4, "epochs": 2, "patience": 1}


def generated(start, stop, step, n_series=3, kind="date", weekdays_only=False):
    """A query of ``n_series`` series with a pattern by weekday and hour, a trend and
    deterministic wiggle: series_id, period (``kind``), value."""
    where = " WHERE extract(isodow FROM p) < 6" if weekdays_only else ""
    return (
        f"SELECT 's' || s AS series_id, p::{kind} AS period, "
        "100 + 10 * s + 8 * sin(extract(isodow FROM p) * 0.9 + s)"
        " + 5 * sin(extract(hour FROM p) * 0.26) + extract(epoch FROM p) / 1e6"
        " + 2 * sin(extract(epoch FROM p) / 7919.0 * s) AS value"
        f" FROM generate_series(1, {n_series}) AS s,"
        f" generate_series('{start}'::timestamp, '{stop}'::timestamp, '{step}') AS p{where}"
    )


DAILY = generated("2025-01-01", "2025-05-31", "1 day")


def periods(engine, run_id):
    return call(engine, "SELECT series_id, period, step FROM predictions.forecasts "
                        f"WHERE run_id = {run_id} ORDER BY series_id, step")


@pytest.mark.slow
def test_daily_series_train_forecast_and_continue_their_calendar(db):
    row = train(db, name="daily", query=DAILY, options=json.dumps({**TINY, "horizon": 7}))
    metrics = json.loads(row["metrics"])
    assert (metrics["frequency"], metrics["season"], metrics["horizon"]) == ("daily", 7.0, 7)
    [reg] = call(db, "SELECT feature_schema, spec FROM models.registry")
    assert reg["feature_schema"]["frequency"] == "daily" and reg["feature_schema"]["season"] == 7
    assert reg["spec"]["options"]["lookback"] == 56  # the daily default
    result = forecast(db, name="daily", query=DAILY)
    rows = periods(db, result["run_id"])
    assert result["rows_written"] == 3 * 7
    assert [str(r["period"]) for r in rows[:2]] == ["2025-06-01 00:00:00", "2025-06-02 00:00:00"]
    # The view shows them too, as analysts read them.
    assert count(db, "predictions.forecast_latest", "model_name = 'daily'") == 21


@pytest.mark.slow
def test_forecasting_series_of_another_frequency_names_both_and_writes_nothing(db):
    train(db, name="daily", query=DAILY, options=json.dumps({**TINY, "horizon": 7}))
    monthly = "SELECT series_id, period, value FROM features.monthly_usage"
    series_data.load_series(db, n_series=2, length=40, min_length=40, seed=1)
    with pytest.raises(sa.exc.DBAPIError,
                       match=r"trained on daily series, but series '\S+' is monthly"):
        forecast(db, name="daily", query=monthly)
    with pytest.raises(sa.exc.DBAPIError, match=r"1 to 7 periods"):
        forecast(db, name="daily", horizon=8, query=DAILY)
    assert count(db, "predictions.forecasts") == 0
    assert [r["status"] for r in runs(db)][-2:] == ["failed", "failed"]


@pytest.mark.slow
def test_a_trading_day_series_is_business_daily_and_friday_is_followed_by_monday(db):
    query = generated("2025-01-01", "2025-06-27", "1 day", weekdays_only=True)  # ends Friday
    row = train(db, name="trading", query=query, options=json.dumps(TINY))
    assert json.loads(row["metrics"])["frequency"] == "business_daily"
    rows = periods(db, forecast(db, name="trading", query=query)["run_id"])
    assert [str(r["period"])[:10] for r in rows[:3]] == ["2025-06-30", "2025-07-01",
                                                         "2025-07-02"]


@pytest.mark.slow
def test_hourly_series_forecast_timestamps_on_their_minute(db):
    query = generated("2025-03-01 00:30", "2025-03-20 23:30", "1 hour", kind="timestamp")
    row = train(db, name="load", query=query, options=json.dumps(TINY))
    metrics = json.loads(row["metrics"])
    assert (metrics["frequency"], metrics["season"], metrics["horizon"]) == ("hourly", 24.0, 24)
    rows = periods(db, forecast(db, name="load", query=query)["run_id"])
    assert [str(r["period"]) for r in rows[:2]] == ["2025-03-21 00:30:00", "2025-03-21 01:30:00"]
    [latest] = call(db, "SELECT max(period) AS last FROM predictions.forecast_latest")
    assert str(latest["last"]) == "2025-03-21 23:30:00"


@pytest.mark.slow
@pytest.mark.parametrize("start, stop, step, frequency, first", [
    ("2022-01-05", "2025-06-25", "7 days", "weekly", "2025-07-02"),  # Wednesdays
    ("2012-03-31", "2025-06-30", "3 months", "quarterly", "2025-09-30"),
])
def test_weekly_and_quarterly_series_keep_their_place_in_the_period(db, start, stop, step,
                                                                     frequency, first):
    query = generated(start, stop, step)
    if frequency == "quarterly":  # quarter ends, as accounts keep them
        query = ("SELECT series_id, (date_trunc('month', period) + interval '1 month'"
                 f" - interval '1 day')::date AS period, value FROM ({query}) q")
    row = train(db, name=frequency, query=query, options=json.dumps(TINY))
    assert json.loads(row["metrics"])["frequency"] == frequency
    rows = periods(db, forecast(db, name=frequency, query=query)["run_id"])
    assert str(rows[0]["period"])[:10] == first


BAD_FREQUENCIES = [
    (f"{DAILY} UNION ALL SELECT 'm1', p::date, 1 FROM generate_series('2020-01-01'::timestamp,"
     " '2024-01-01', '1 month') AS p",
     r"series 'm1' is monthly but series 's1' is daily; one model serves one frequency"),
    (f"SELECT * FROM ({DAILY}) d WHERE NOT (series_id = 's2' AND period BETWEEN '2025-03-01'"
     " AND '2025-03-10')",
     r"series 's2' has no value for 10 days \(2025-03-01 to 2025-03-10\)"),
    (f"SELECT * FROM ({DAILY}) d WHERE series_id <> 's3' OR period > '2025-05-01'",
     r"series 's3' is shorter than 42 days"),
    ("SELECT 'x' AS series_id, p::date AS period, 1.0 AS value"
     " FROM generate_series('2025-01-01'::timestamp, '2025-12-31', '3 days') AS p",
     r"series 'x' has periods 3 days apart"),
]


@pytest.mark.parametrize("query, message", BAD_FREQUENCIES)
def test_bad_series_of_other_frequencies_fail_clearly(db, query, message):
    with pytest.raises(sa.exc.DBAPIError, match=message):
        train(db, name="bad", query=query, options=json.dumps(TINY))
    assert count(db, "models.registry") == 0
    assert runs(db)[-1]["status"] == "failed"


# --- the base chosen on validation (statsforecast inside the backend) ------------------

QUARTERLY = ("SELECT series_id, period::date AS period, value * (1 + 0.1 * extract(quarter"
             " FROM period)) AS value FROM (" + generated("2010-01-01", "2024-10-01",
                                                          "3 months") + ") q")


@pytest.mark.slow
def test_the_registry_says_which_base_won_per_series_and_forecast_fits_it(db):
    row = train(db, name="quarterly", query=QUARTERLY,
                options=json.dumps({**TINY, "horizon": 8, "refit": False}))
    [reg] = call(db, "SELECT metrics FROM models.registry WHERE model_name = 'quarterly'")
    record = reg["metrics"]["choice"]
    assert json.loads(row["metrics"])["choice"] == record
    assert record["candidate"] and record["network"] in ("off", "alone", "blend")
    assert [s["series_id"] for s in record["series"]] == ["s1", "s2", "s3"]
    for s in record["series"]:
        assert {"seasonal_naive", "ets", "arima", "theta"} <= set(s["backtest_mase"])
        assert s["base"] == record["candidate"]  # every series takes the group's
    assert sum(record["series_bases"].values()) == 3
    # Quarterly: the network learned a correction of that base, gated on validation.
    assert record["network_corrects"] == "library_base"
    assert all("network_added_backtest_mase" in s for s in record["series"])
    result = forecast(db, name="quarterly", query=QUARTERLY)
    assert result["rows_written"] == 3 * 8
    [bounds] = call(db, "SELECT bool_and(lower <= forecast AND forecast <= upper) AS ok, "
                        "min(period) AS first FROM predictions.forecasts")
    assert bounds["ok"] and str(bounds["first"])[:10] == "2025-01-01"


@pytest.mark.slow
def test_a_session_that_fitted_statsforecast_runs_any_query_after(db):
    """statsforecast compiles with numba, an LLVM of its own, and PostgreSQL's JIT is
    LLVM too (TensorFlow's and the JIT's once crashed the server together). Training
    turns JIT off in its session; so does forecasting, which fits the chosen library
    base in a session that need not have trained: after it, a query that the JIT would
    compile runs, in that session and in a new one."""
    options = json.dumps({**TINY, "horizon": 8, "refit": False, "epochs": 0})
    train(db, name="jit", query=QUARTERLY, options=options)
    [reg] = call(db, "SELECT metrics FROM models.registry WHERE model_name = 'jit'")
    assert reg["metrics"]["choice"]["network"] != "alone"  # the library forecasts
    with db.connect() as c:  # a session that never loaded TensorFlow
        c.exec_driver_sql("SET jit = on")
        c.execute(sa.text("SELECT * FROM ml.forecast(model_name => 'jit', input_query => :q)"),
                  {"q": QUARTERLY}).all()
        c.commit()
        assert c.exec_driver_sql("SHOW jit").scalar_one() == "off"
        c.exec_driver_sql("SET jit_above_cost = 0")
        total = c.exec_driver_sql("SELECT sum(g * 2) FROM generate_series(1, 1000) AS g")
        assert total.scalar_one() == 1001000
    with db.connect() as c:
        assert c.exec_driver_sql("SELECT 1").scalar_one() == 1
