"""The forecaster without a database: input rules, windows, learning, artifacts, forecasts."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sql_helpers import assert_no_pickle
from sqlml import artifacts
from sqlml.demo import series_data
from sqlml.errors import ArtifactError, InputError
from sqlml.kinds.forecaster import base as forecast_base
from sqlml.kinds.forecaster import inputs
from sqlml.kinds.forecaster import model as forecaster
from sqlml.kinds.forecaster import windows as forecast_windows
from sqlml.paths import project_root

pytestmark = pytest.mark.unit

SPEC = json.loads((project_root() / "models" / "forecaster.json").read_text())
# These tests are about the network and its windows: the statsforecast bases chosen
# around it (``candidates``) have their own tests (test_forecaster_choice.py).
FAST = {"ensemble": 2, "units": 8, "epochs": 3, "patience": 2, "lookback": 24,
        "validation_origins": 3, "candidates": False}
SERIES = 30


def frame(n=SERIES, length=84, min_length=72, seed=3):
    return series_data.series_frame(n, length, min_length, seed)


@pytest.fixture(scope="module")
def data():
    return frame()


@pytest.fixture(scope="module")
def trained(data):
    return forecaster.train(data, SPEC, FAST)


def run_forecast(trained, rows, horizon=None):
    return forecaster.forecast(rows, trained.onnx_artifact,
                               trained.registration["onnx_sha256"], horizon)


def one_series(values, start="2020-01-01", sid="a"):
    return pd.DataFrame({"series_id": sid, "value": values,
                         "period": pd.date_range(start, periods=len(values), freq="MS")})


def regularise(rows, transform="auto"):
    return inputs.regularise(rows, "test", transform, max_gap=12)


# --- input rules --------------------------------------------------------------------


def test_any_day_of_a_month_stands_for_that_month():
    rows = one_series([1.0, 2.0, 3.0])
    rows["period"] = rows["period"] + pd.Timedelta(days=14)
    [s], _ = regularise(rows)
    assert s.label(s.start) == "2020-01" and list(s.values) == [1.0, 2.0, 3.0]


def test_two_rows_in_one_month_are_duplicates_naming_the_series():
    rows = pd.concat([one_series([1.0, 2.0, 3.0], sid="x"),
                      pd.DataFrame({"series_id": ["x"], "period": [pd.Timestamp("2020-02-20")],
                                    "value": [2.5]})])
    with pytest.raises(InputError, match="series 'x' has more than one row for 2020-02"):
        regularise(rows)


def test_nulls_and_missing_months_inside_a_series_are_interpolated():
    rows = one_series([10.0, None, 30.0, 50.0, 60.0, None])
    rows = rows.drop(index=3)  # April has no row at all
    [s], log_space = regularise(rows, transform="none")
    assert not log_space
    # Feb (NULL) and Apr (no row) are filled; the trailing NULL (June) is dropped.
    assert list(s.values) == [10.0, 20.0, 30.0, 45.0, 60.0]
    assert s.label(s.last) == "2020-05" and s.filled == 2


def test_log_space_interpolates_geometrically():
    [s], log_space = regularise(one_series([10.0, None, 1000.0]))
    assert log_space and np.isclose(s.values[1], 100.0)


def test_a_gap_longer_than_a_season_is_an_error_naming_the_series():
    rows = one_series(np.arange(1.0, 41.0), sid="gappy")
    rows = rows[(rows.index < 10) | (rows.index > 23)]
    with pytest.raises(InputError, match="series 'gappy' has no value for 14 months "
                                         r"\(2020-11 to 2021-12\)"):
        regularise(rows)


@pytest.mark.parametrize("column, message", [
    ("series_id", "'series_id' has 1 NULL"),
    ("period", "'period' is NULL in 1 row.*series 'a'"),
])
def test_null_keys_are_errors(column, message):
    rows = one_series([1.0, 2.0, 3.0])
    rows[column] = rows[column].astype(object)
    rows.loc[1, column] = None
    with pytest.raises(InputError, match=message):
        regularise(rows)


def test_missing_columns_and_non_numeric_values_name_the_column():
    with pytest.raises(InputError, match="no 'value' column"):
        regularise(one_series([1.0]).drop(columns=["value"]))
    rows = one_series([1.0, 2.0]).astype({"value": object})
    rows.loc[0, "value"] = "lots"
    with pytest.raises(InputError, match="'value' must be numeric.*'lots'"):
        regularise(rows)


def test_sql_server_float_ids_become_integer_text():
    rows = one_series([1.0, 2.0]).assign(series_id=17.0)
    [s], _ = regularise(rows)
    assert s.series_id == "17"


# --- options and short series --------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    ({"horizon_months": 3}, "unknown option 'horizon_months'"),
    ({"lookback": 12}, "'lookback' .* out of range"),
    ({"coverage": 1.5}, "'coverage' .* between 0.01 and 0.99"),
    ({"transform": "sqrt"}, "'transform' .* out of range"),
    ({"base": "arima"}, "'base' .* out of range"),
    ({"horizon": 61}, "'horizon' .* out of range.*horizon <= 60"),
    ({"horizon": 5000}, "'horizon' .* between 0 and 366"),
])
def test_bad_options_name_the_option(data, options, message):
    with pytest.raises(InputError, match=message):
        forecaster.train(data, SPEC, {**FAST, **options})


def test_series_below_the_minimum_are_named(data):
    short = one_series(np.linspace(100, 130, 30), sid="tiny")
    with pytest.raises(InputError, match="series 'tiny' is shorter than 36 months.*has 30"):
        forecaster.train(pd.concat([data, short]), SPEC, FAST)


def test_backfill_repeats_the_first_year_on_the_calendar():
    [s], _ = regularise(one_series(np.arange(1.0, 31.0), start="2020-03-01"))
    [filled] = inputs.backfill([s], 40)
    assert filled.padded == 10 and filled.label(filled.start) == "2019-05"
    # May 2019 repeats May 2020 (the third value), and so on to February.
    assert list(filled.values[:10]) == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
    assert filled.real.tolist() == s.values.tolist() and filled.last == s.last


@pytest.mark.slow
def test_series_shorter_than_lookback_plus_horizon_are_back_filled(data):
    short = one_series(np.linspace(100, 130, 40) * (1 + 0.1 * np.sin(np.arange(40))),
                       sid="young")
    options = {**FAST, "lookback": 36}
    out = forecaster.train(pd.concat([data, short]), SPEC, options)
    m = out.registration["metrics"]
    assert m["backfilled_series"] == 1 and m["n_series"] == SERIES + 1
    newer = one_series(np.linspace(50, 60, 30), sid="newer")
    rows = run_forecast(out, pd.concat([data, newer]))
    assert len(rows[rows.series_id == "newer"]) == 12 and rows.forecast.notna().all()


def test_too_short_to_validate_says_what_is_needed():
    rows = frame(n=5, length=40, min_length=40)
    with pytest.raises(InputError, match="no series is long enough to validate.*= 48 months"):
        forecaster.train(rows, SPEC, FAST)


@pytest.mark.slow
def test_too_short_for_training_windows_keeps_the_base_method():
    rows = frame(n=6, length=52, min_length=52)
    messages = []
    out = forecaster.train(rows, SPEC, FAST, progress=messages.append)
    m = out.registration["metrics"]
    assert m["windows"]["train"] == 0 and m["best_epochs"] == [0, 0]
    assert np.isclose(m["mase"], m["base"]["mase"])
    assert any("network is not trained" in text for text in messages)


@pytest.mark.slow
@pytest.mark.parametrize("jit", [False, True])
def test_refit_members_train_their_own_epochs_and_leave_the_joint_model(jit, monkeypatch):
    from sqlml.kinds.forecaster import network

    if jit:  # XLA, as on large training sets: closed gates inside one compiled step
        monkeypatch.setattr(network, "JIT_MIN_WINDOWS", 0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 12, 4)).astype(np.float32)
    y = rng.normal(size=(96, 3)).astype(np.float32)
    opts = {"ensemble": 3, "units": 4, "layers": 1, "dropout": 0.0, "seed": 1,
            "learning_rate": 0.01, "batch_size": 32}

    def refit(epochs):
        fitted = network.fit(x, y, None, None, opts, lambda message: None,
                             fixed_epochs=epochs)
        dense = [fitted.model.get_layer(f"member{i}_delta").get_weights()[0]
                 for i in range(3)]
        return fitted, dense

    fitted, dense = refit([0, 1, 3])
    assert fitted.epochs_run == 3
    assert not dense[0].any() and dense[1].any() and dense[2].any()  # 0 epochs: the base
    _, alone = refit([0, 1, 1])  # member 1's epoch, then nothing more for anyone
    assert np.array_equal(dense[1], alone[1])


def test_training_batches_have_one_shape_and_the_short_batch_keeps_its_loss():
    import keras
    import tensorflow as tf

    from sqlml.kinds.forecaster import network

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12, 4)).astype(np.float32)
    y = rng.normal(size=(300, 3)).astype(np.float32)
    shapes = [(tuple(xb.shape), tuple(yb.shape), float(tf.reduce_sum(wb[:, 0])))
              for xb, yb, wb in network.batches(x, y, 2, 128, seed=1)]
    assert shapes == [((128, 12, 4), (128, 2, 3), 128.0)] * 3  # 128 + 128 + 44 padded
    xb, yb, wb = list(network.batches(x, y, 2, 128, seed=1))[-1]
    real = int(np.sum(wb.numpy()[:, 0] > 0))
    assert real == 44
    _, _, inputs, deltas = network.build(12, 4, 3, {"layers": 1, "units": 4, "dropout": 0.0,
                                                    "ensemble": 2})
    model = network.joint(inputs, deltas, keras.optimizers.Adam(), 3, jit=False)
    for w in model.trainable_weights:
        w.assign(rng.normal(0, 0.3, w.shape).astype(np.float32))
    padded = model.compute_loss(x=xb, y=yb, y_pred=model(xb), sample_weight=wb)
    short = model.compute_loss(x=xb[:real], y=yb[:real], y_pred=model(xb[:real]))
    assert np.isclose(float(padded), float(short), rtol=1e-6)
    assert np.allclose(network.predict(model, x), model.predict(x, verbose=0), atol=1e-6)


# --- windows and the base ------------------------------------------------------------


def test_windows_are_normalised_per_window_and_decode_back():
    rows = frame(n=4)
    series, log_space = regularise(rows)
    windows = forecast_windows.sliding(series, 24, 12, cut=0)
    scaling = forecast_windows.fit_scaling(windows, 24, 12, log_space, "theta")
    x, context = forecast_windows.encode(windows, scaling)
    assert x.shape == (len(windows), 24, forecast_windows.CHANNELS) and x.dtype == np.float32
    y = forecast_windows.targets(windows, context, scaling)
    assert np.allclose(forecast_windows.decode(y, context, scaling), windows.targets)


def test_seasonal_naive_base_repeats_the_last_season():
    z = np.arange(36.0)[None, :]
    assert list(forecast_base.seasonal_naive(z, 14)[0]) == [*range(24, 36), 24, 25]


def test_theta_base_follows_a_seasonal_pattern_better_than_seasonal_naive():
    rng = np.random.default_rng(0)
    t = np.arange(60)
    z = 0.3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.05, (200, 60))
    past, future = z[:, :48], z[:, 48:]
    theta_error = np.abs(forecast_base.theta(past, 12) - future).mean()
    naive_error = np.abs(forecast_base.seasonal_naive(past, 12) - future).mean()
    assert theta_error < 0.85 * naive_error


# --- training, artifacts, forecasting -------------------------------------------------


@pytest.mark.slow
def test_metrics_baseline_and_coverage_are_recorded(trained):
    m = trained.registration["metrics"]
    for key in ("mase", "smape", "rmse", "coverage", "baseline_mase", "base", "n_series",
                "best_epochs", "onnx_max_abs_diff"):
        assert key in m, key
    assert m["baseline"]["model"] == "seasonal_naive" and m["n_series"] == SERIES
    assert m["n_test_points"] == SERIES * 12 and 0 <= m["coverage"] <= 1
    assert trained.registration["device"].startswith(("CPU", "GPU"))
    assert trained.registration["spec"]["options"]["lookback"] == 24


@pytest.mark.slow
def test_keras_and_onnx_agree_within_1e_5(trained, data):
    keras_bundle = artifacts.unpack(trained.artifact, trained.registration["artifact_sha256"])
    onnx_bundle = artifacts.unpack(trained.onnx_artifact,
                                   trained.registration["onnx_sha256"])
    scaling = forecast_windows.Scaling.from_json(keras_bundle.preprocessing["scaling"])
    series, _ = regularise(data)
    x, _ = forecast_windows.encode(forecast_windows.sliding(series, 24, 12, cut=0), scaling)
    expected = artifacts.load_keras(keras_bundle.model_bytes).predict(x, verbose=0)
    got = artifacts.onnx_predict(artifacts.onnx_session(onnx_bundle.model_bytes), x)
    assert np.max(np.abs(expected - got)) < 1e-5


@pytest.mark.slow
def test_artifacts_hold_no_pickle(trained):
    assert_no_pickle(trained)


@pytest.mark.slow
def test_forecast_rows_follow_each_series_last_month(trained, data):
    out = run_forecast(trained, data)
    assert len(out) == SERIES * 12
    assert list(out.columns) == ["series_id", "period", "step", "forecast", "lower", "upper"]
    assert (out.lower <= out.forecast).all() and (out.forecast <= out.upper).all()
    assert str(out.period.dtype) == "datetime64[ns]" and (out.period.dt.day == 1).all()
    first = out[out.step == 1].set_index("series_id").period
    last = data.groupby("series_id").period.max()
    assert (first == last + pd.DateOffset(months=1)).all()


@pytest.mark.slow
def test_a_shorter_horizon_is_the_first_steps(trained, data):
    full = run_forecast(trained, data)
    six = run_forecast(trained, data, horizon=6)
    assert len(six) == SERIES * 6
    assert np.allclose(six.forecast, full[full.step <= 6].forecast)


@pytest.mark.slow
def test_a_horizon_beyond_training_is_refused(trained, data):
    with pytest.raises(InputError, match="horizon 13 is outside .* \\(1 to 12 months\\)"):
        run_forecast(trained, data, horizon=13)


@pytest.mark.slow
def test_forecasting_a_series_shorter_than_two_years_names_it(trained, data):
    rows = pd.concat([data, one_series([5.0] * 20, sid="new")])
    with pytest.raises(InputError, match="series 'new' is shorter than 24 months"):
        run_forecast(trained, rows)


@pytest.mark.slow
def test_a_zero_in_a_log_space_model_is_refused_naming_the_series(trained, data):
    rows = data.copy()
    rows.loc[rows.index[-1], "value"] = 0.0
    sid = rows.series_id.iloc[-1]
    with pytest.raises(InputError, match=f"series '{sid}' has a value <= 0"):
        run_forecast(trained, rows)


@pytest.mark.slow
def test_a_gap_is_forecast_like_its_interpolation(trained, data):
    sid = data.series_id.iloc[0]
    rows = data.copy()
    rows.loc[rows[rows.series_id == sid].index[-5], "value"] = np.nan
    series, _ = regularise(rows)
    filled = data.copy()
    filled.loc[filled.series_id == sid, "value"] = series[
        [s.series_id for s in series].index(sid)].values
    a, b = run_forecast(trained, rows), run_forecast(trained, filled)
    assert np.allclose(a.forecast, b.forecast)


@pytest.mark.slow
def test_a_tampered_artifact_is_refused(trained, data):
    blob = bytearray(trained.onnx_artifact)
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(ArtifactError, match="does not match its recorded sha256"):
        forecaster.forecast(data, bytes(blob), trained.registration["onnx_sha256"])


@pytest.mark.slow
def test_forecasting_does_not_import_tensorflow(trained, data, tmp_path):
    (tmp_path / "onnx.bin").write_bytes(trained.onnx_artifact)
    data.to_csv(tmp_path / "rows.csv", index=False)
    script = (
        "import sys, pandas as pd; from sqlml.kinds.forecaster import model as forecaster\n"
        f"blob = open({str(tmp_path / 'onnx.bin')!r}, 'rb').read()\n"
        f"rows = pd.read_csv({str(tmp_path / 'rows.csv')!r})\n"
        f"out = forecaster.forecast(rows, blob, {trained.registration['onnx_sha256']!r})\n"
        "assert len(out) and 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


@pytest.mark.slow
def test_the_model_beats_seasonal_naive_and_intervals_cover_their_share():
    rows = frame(n=120, length=120, min_length=96, seed=5)
    out = forecaster.train(rows, SPEC, {"ensemble": 3, "refit": False})
    m = out.registration["metrics"]
    assert m["mase"] < 0.85 * m["baseline_mase"], m
    assert 0.7 <= m["coverage"] <= 0.9, m


@pytest.mark.slow
def test_data_with_zeros_and_negatives_trains_in_linear_space():
    rows = frame(n=12)
    rows["value"] = rows["value"] - rows.groupby("series_id").value.transform("mean")
    assert (rows.value <= 0).any()
    out = forecaster.train(rows, SPEC, FAST)
    m = out.registration["metrics"]
    assert m["transform"] == "none" and np.isfinite(m["mase"]) and m["onnx_max_abs_diff"] < 1e-5
    forecasts = run_forecast(out, rows)
    assert len(forecasts) == 12 * 12
    assert np.isfinite(forecasts[["forecast", "lower", "upper"]].to_numpy()).all()


@pytest.mark.unit
def test_forecast_periods_keep_each_series_day_of_month_convention():
    """Month-end input gets month-end forecasts, so they join back to the series' rows."""
    from sqlml.kinds.forecaster import frequency as fq

    frame = pd.DataFrame({
        "series_id": ["ends"] * 3 + ["starts"] * 3 + ["mixed"] * 2,
        "period": ["2024-01-31", "2024-02-29", "2024-03-31", "2024-01-01", "2024-02-01",
                   "2024-03-01", "2024-01-03", "2024-02-09"],
        "value": range(8),
    })
    rows = inputs.read_frame(frame, "test")
    days = fq.anchors(rows, fq.MONTHLY)
    assert days == {"ends": (0, fq.LAST_DAY), "starts": (0, 1), "mixed": (0, 1)}
    april = pd.Period("2024-04", "M").ordinal
    dates = fq.period_stamps(np.array([april, april, april - 2]),
                             np.array([[0, fq.LAST_DAY], [0, 1], [0, fq.LAST_DAY]]), fq.MONTHLY)
    assert [str(d.date()) for d in dates] == ["2024-04-30", "2024-04-01", "2024-02-29"]
