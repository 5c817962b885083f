"""The forecaster at every frequency, without a database: inference, calendars,
seasonality, gaps, short series, and series of the wrong frequency at forecast time."""

import json

import numpy as np
import pandas as pd
import pytest

from sqlml.demo import series_data
from sqlml.errors import InputError
from sqlml.kinds.forecaster import base, inputs, metrics
from sqlml.kinds.forecaster import frequency as fq
from sqlml.kinds.forecaster import model as forecaster
from sqlml.paths import project_root

pytestmark = pytest.mark.unit

SPEC = json.loads((project_root() / "models" / "forecaster.json").read_text())
# The network at each frequency; the bases chosen around it are test_forecaster_choice's.
TINY = {"ensemble": 1, "units": 4, "epochs": 2, "patience": 1, "candidates": False}
# Long enough for each frequency's default lookback, horizon and validation.
LENGTH = {"hourly": 420, "daily": 120, "business_daily": 120, "weekly": 170,
          "quarterly": 56, "yearly": 30}


def rows_of(frequency, n=4, length=None, seed=5):
    return series_data.frequency_frame(frequency, n, length or LENGTH[frequency], seed=seed)


def read(rows):
    return inputs.read_frame(rows, "test")


def series(values, periods, sid="a"):
    return pd.DataFrame({"series_id": sid, "period": periods, "value": values})


# --- inference -----------------------------------------------------------------------


@pytest.mark.parametrize("frequency", list(series_data.FREQUENCY_SHAPES))
def test_each_frequency_is_inferred_from_the_periods(frequency):
    assert fq.infer(read(rows_of(frequency, n=2, length=60)), "test").name == frequency


def test_a_trading_day_series_is_business_daily_not_daily_with_gaps():
    days = pd.bdate_range("2024-01-01", periods=40)
    assert fq.infer(read(series(np.arange(40.0) + 1, days)), "t").name == "business_daily"
    # The same days with a Saturday in them are daily (with gaps).
    with_saturday = days.append(pd.DatetimeIndex(["2024-01-06"]))
    rows = read(series(np.arange(41.0) + 1, with_saturday))
    assert fq.infer(rows, "t").name == "daily"


def test_daily_with_a_few_missing_days_is_still_daily():
    days = pd.date_range("2024-01-01", periods=60).delete([5, 6, 20])
    assert fq.infer(read(series(np.ones(57), days)), "t").name == "daily"


def test_timestamps_with_a_zone_are_refused_naming_the_column():
    """Issue 22: an instant with a zone was taken in UTC, so periods east of UTC moved
    one period early; a period is a calendar value, and a zoned one is refused."""
    stamps = pd.date_range("2024-03-01 00:30", periods=50, freq="h", tz="Europe/Paris")
    for periods in (stamps.astype(str), stamps):
        with pytest.raises(InputError, match="column 'period' holds timestamps with a time zone"):
            read(series(np.ones(50), periods))
    naive = stamps.tz_localize(None)
    assert fq.infer(read(series(np.ones(50), naive.astype(str))), "t").name == "hourly"


def test_mixed_frequencies_are_an_error_naming_two_series():
    rows = pd.concat([series(np.ones(30), pd.date_range("2024-01-01", periods=30), "shop1"),
                      series(np.ones(30), pd.date_range("2020-01-01", periods=30, freq="MS"),
                             "region9")])
    with pytest.raises(InputError, match="series 'region9' is monthly but series 'shop1' "
                                         "is daily; one model serves one frequency"):
        forecaster.train(rows, SPEC, TINY)


def test_an_unknown_spacing_is_an_error_naming_the_series_and_the_option():
    rows = series(np.ones(30), pd.date_range("2024-01-01", periods=30, freq="3D"), "odd")
    with pytest.raises(InputError, match=r"series 'odd' has periods 3 days apart.*frequency"):
        forecaster.train(rows, SPEC, TINY)


@pytest.mark.slow
def test_options_frequency_overrides_inference_and_is_checked():
    rows = rows_of("business_daily", n=3)
    out = forecaster.train(rows, SPEC, {**TINY, "frequency": "daily"})
    m = out.registration["metrics"]
    # As daily data, each weekend is a two-day gap, filled.
    assert m["frequency"] == "daily" and m["filled_points"] > 0
    with pytest.raises(InputError, match="option 'frequency' .* out of range: \"fortnightly\""):
        forecaster.train(rows, SPEC, {**TINY, "frequency": "fortnightly"})


# --- calendars -----------------------------------------------------------------------


def continued(rows, frequency, steps=3):
    """The next ``steps`` periods of each series, as ``forecast`` writes them."""
    rows = read(rows)
    freq = fq.FREQUENCIES[frequency]
    anchors = fq.anchors(rows, freq)
    out = {}
    for sid, group in rows.groupby("series_id"):
        last = fq.ordinals(group.stamp, freq).max()
        stamps = fq.period_stamps(last + np.arange(1, steps + 1), [anchors[sid]] * steps, freq)
        out[sid] = [str(s) for s in stamps]
    return out


def test_the_next_business_day_after_a_friday_is_a_monday():
    days = pd.bdate_range(end="2024-03-08", periods=30)  # ends on a Friday
    assert continued(series(np.ones(30), days), "business_daily")["a"] == [
        "2024-03-11 00:00:00", "2024-03-12 00:00:00", "2024-03-13 00:00:00"]


def test_weekly_series_keep_their_weekday():
    wednesdays = pd.date_range("2024-01-03", periods=20, freq="W-WED")
    assert continued(series(np.ones(20), wednesdays), "weekly")["a"] == [
        "2024-05-22 00:00:00", "2024-05-29 00:00:00", "2024-06-05 00:00:00"]


def test_hourly_series_keep_their_minute_across_midnight():
    stamps = pd.date_range("2024-01-01 00:30", periods=48, freq="h")
    assert continued(series(np.ones(48), stamps), "hourly")["a"] == [
        "2024-01-03 00:30:00", "2024-01-03 01:30:00", "2024-01-03 02:30:00"]


def test_quarter_ends_stay_quarter_ends_and_quarter_starts_starts():
    ends = pd.date_range("2020-03-31", periods=12, freq="QE")
    starts = pd.date_range("2020-01-01", periods=12, freq="QS")
    out = continued(pd.concat([series(np.ones(12), ends, "e"),
                               series(np.ones(12), starts, "s")]), "quarterly", 2)
    assert out == {"e": ["2023-03-31 00:00:00", "2023-06-30 00:00:00"],
                   "s": ["2023-01-01 00:00:00", "2023-04-01 00:00:00"]}


def test_yearly_series_keep_their_month_and_day():
    stamps = pd.date_range("2000-06-30", periods=10, freq="12ME")
    assert continued(series(np.ones(10), stamps), "yearly", 2)["a"] == [
        "2010-06-30 00:00:00", "2011-06-30 00:00:00"]


def test_daily_weekday_phase_is_on_the_calendar():
    # 2024-01-01 was a Monday: weekday angle 0 (Monday = 0, as 1970-01-01 was Thursday = 3).
    ordinal = fq.ordinals(pd.Series(pd.to_datetime(["2024-01-01"])), fq.FREQUENCIES["daily"])
    [weekday, _] = fq.calendar_angles(ordinal, fq.FREQUENCIES["daily"])
    assert np.isclose(weekday[0], 0.0)


# --- seasonality -----------------------------------------------------------------------


def test_each_frequency_has_its_main_season():
    assert {name: f.season for name, f in fq.FREQUENCIES.items()} == {
        "hourly": 24, "daily": 7, "business_daily": 5, "weekly": 52, "monthly": 12,
        "quarterly": 4, "yearly": 1}


def test_theta_with_a_weekly_season_follows_a_weekday_pattern():
    rng = np.random.default_rng(0)
    t = np.arange(70)
    z = 0.3 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.05, (200, 70))
    past, future = z[:, :56], z[:, 56:]
    with_season = np.abs(base.theta(past, 14, 7) - future).mean()
    without = np.abs(base.theta(past, 14, 7, "never") - future).mean()
    naive = np.abs(base.seasonal_naive(past, 14, 7) - future).mean()
    assert with_season < 0.85 * naive and with_season < 0.5 * without


def test_the_seasonality_test_tells_a_cycle_from_a_random_walk():
    rng = np.random.default_rng(1)
    t = np.arange(96)
    cycle = np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.2, (50, 96))
    walk = np.cumsum(rng.normal(0, 1, (50, 96)), axis=1)
    assert base.seasonal(cycle, 12).mean() > 0.9 and base.seasonal(walk, 12).mean() < 0.2


def test_mase_and_seasonal_naive_use_the_frequency_season():
    history = np.tile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 9.0], 4) + np.arange(28) * 0.1
    assert np.isclose(metrics.seasonal_scale(history, 7), 0.7)
    assert list(base.seasonal_naive(history[None, :], 3, 7)[0]) == list(history[-7:-4])
    # Yearly data has no season: one-period differences.
    assert np.isclose(metrics.seasonal_scale(np.array([1.0, 3.0, 2.0]), 1), 1.5)


@pytest.fixture(scope="module")
def daily_model():
    rows = rows_of("daily", n=6)
    return rows, forecaster.train(rows, SPEC, {**TINY, "horizon": 7})


@pytest.mark.slow
def test_the_version_records_frequency_season_and_calendar_channels(daily_model):
    _, trained = daily_model
    reg = trained.registration
    assert reg["feature_schema"]["frequency"] == "daily"
    assert reg["feature_schema"]["season"] == 7.0
    assert reg["feature_schema"]["channels"] == [
        "z", "weekday_sin", "weekday_cos", "day_of_year_sin", "day_of_year_cos", "log_scale"]
    assert reg["spec"]["options"]["frequency"] == "daily"
    m = reg["metrics"]
    assert m["frequency"] == "daily" and m["season"] == 7.0 and m["lookback"] == 56
    assert m["seasonal_adjustment"] in base.ADJUSTMENTS
    # The generated daily series have a weekly cycle: Theta adjusted beats seasonal naive.
    assert m["base"]["mase"] < m["baseline_mase"]


@pytest.mark.slow
def test_options_season_overrides_the_frequency(daily_model):
    rows, _ = daily_model
    out = forecaster.train(rows, SPEC, {**TINY, "horizon": 7, "season": 14, "epochs": 0})
    assert out.registration["metrics"]["season"] == 14.0
    with pytest.raises(InputError, match="'lookback' .* out of range.*two seasons of 30"):
        forecaster.train(rows, SPEC, {**TINY, "season": 30, "lookback": 56})


@pytest.mark.slow
def test_defaults_scale_with_the_frequency_and_validation_fits_the_horizon():
    rows = rows_of("quarterly", n=5)
    # Only a horizon: validation_origins follows it (the monthly 12 used to be refused).
    out = forecaster.train(rows, SPEC, {**TINY, "horizon": 4})
    opts = out.registration["spec"]["options"]
    assert (opts["horizon"], opts["lookback"], opts["validation_origins"]) == (4, 24, 4)
    assert opts["frequency"] == "quarterly" and opts["season"] == 4.0


# --- gaps and short series ---------------------------------------------------------------


def test_a_gap_is_counted_in_the_series_periods():
    days = pd.date_range("2024-01-01", periods=60)
    short_gap = series(np.arange(60.0) + 1, days).drop(index=range(10, 15))
    [s], _ = inputs.regularise(short_gap, "t", "none", 7, fq.FREQUENCIES["daily"])
    assert s.filled == 5 and np.allclose(s.values, np.arange(60.0) + 1)
    long_gap = series(np.arange(60.0) + 1, days, "shop").drop(index=range(10, 18))
    with pytest.raises(InputError, match=r"series 'shop' has no value for 8 days "
                                         r"\(2024-01-11 to 2024-01-18\); gaps of up to 7 days"):
        inputs.regularise(long_gap, "t", "none", 7, fq.FREQUENCIES["daily"])


def test_weekends_are_not_gaps_of_a_business_daily_series():
    rows = series(np.arange(40.0) + 1, pd.bdate_range("2024-01-01", periods=40))
    [s], _ = inputs.regularise(rows, "t", "none", 0, fq.FREQUENCIES["business_daily"])
    assert s.filled == 0 and len(s) == 40


def test_two_rows_in_one_hour_are_duplicates():
    stamps = pd.to_datetime(["2024-01-01 10:00", "2024-01-01 10:30", "2024-01-01 11:00"])
    with pytest.raises(InputError, match="series 'a' has more than one row for "
                                         "2024-01-01 10:00.*two instants in one hour"):
        inputs.regularise(series([1.0, 2.0, 3.0], stamps), "t", "none", 24,
                          fq.FREQUENCIES["hourly"])


@pytest.mark.slow
def test_too_short_daily_series_are_named_in_days(daily_model):
    rows, _ = daily_model
    short = series(np.linspace(10, 20, 30), pd.date_range("2025-12-02", periods=30), "new")
    with pytest.raises(InputError, match=r"series 'new' is shorter than 35 days "
                                         r"\(horizon \+ 28.*has 30"):
        forecaster.train(pd.concat([rows, short]), SPEC, {**TINY, "horizon": 7})


@pytest.mark.slow
def test_a_little_short_daily_series_is_back_filled_with_its_first_week(daily_model):
    rows, _ = daily_model
    young = series(np.linspace(10, 20, 40), pd.date_range("2025-11-22", periods=40), "young")
    out = forecaster.train(pd.concat([rows, young]), SPEC,
                           {**TINY, "horizon": 7, "epochs": 0})
    assert out.registration["metrics"]["backfilled_series"] == 1


# --- forecasting ---------------------------------------------------------------------------


@pytest.mark.slow
def test_daily_forecasts_continue_each_series_calendar(daily_model):
    rows, trained = daily_model
    out = forecaster.forecast(rows, trained.onnx_artifact,
                              trained.registration["onnx_sha256"])
    assert len(out) == 6 * 7 and np.isfinite(out.forecast).all()
    first = out[out.step == 1].set_index("series_id").period
    assert (first == rows.groupby("series_id").period.max() + pd.Timedelta(days=1)).all()


@pytest.mark.slow
def test_forecasting_series_of_another_frequency_names_both(daily_model):
    rows, trained = daily_model
    weekly = series(np.linspace(10, 20, 60), pd.date_range("2024-01-01", periods=60,
                                                           freq="W-MON"), "wk")
    with pytest.raises(InputError, match="trained on daily series, but series 'wk' is weekly"):
        forecaster.forecast(pd.concat([rows, weekly]), trained.onnx_artifact,
                            trained.registration["onnx_sha256"])


@pytest.mark.slow
def test_a_forecast_horizon_beyond_training_is_in_the_model_periods(daily_model):
    rows, trained = daily_model
    with pytest.raises(InputError, match=r"\(1 to 7 days\)"):
        forecaster.forecast(rows, trained.onnx_artifact,
                            trained.registration["onnx_sha256"], 8)


@pytest.mark.slow
@pytest.mark.parametrize("frequency, step_one", [
    ("business_daily", "2026-01-01 00:00:00"),  # the data ends on Wednesday 2025-12-31
    ("weekly", "2026-01-05 00:00:00"),
    ("hourly", "2026-01-01 00:00:00"),
    ("quarterly", "2026-01-01 00:00:00"),
    ("yearly", "2026-01-01 00:00:00"),
])
def test_every_frequency_trains_and_forecasts_on_its_calendar(frequency, step_one):
    rows = rows_of(frequency, n=3)
    trained = forecaster.train(rows, SPEC, {**TINY, "epochs": 1})
    m = trained.registration["metrics"]
    assert m["frequency"] == frequency and np.isfinite(m["mase"])
    assert m["horizon"] == SPEC["frequencies"][frequency]["horizon"]
    out = forecaster.forecast(rows, trained.onnx_artifact,
                              trained.registration["onnx_sha256"])
    assert str(out.period.iloc[0]) == step_one
    assert out.groupby("series_id").period.apply(lambda p: p.is_monotonic_increasing).all()
    if frequency == "business_daily":
        assert (out.period.dt.day_of_week < 5).all()
