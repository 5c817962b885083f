"""The network as a correction of the chosen library base (``correction``): each
window's base from a model fitted before the validation windows, the network that
starts as that base, and forecasting that adds the correction to the base refitted on
the history given. Without a database."""

import json

import numpy as np
import pandas as pd
import pytest

from sqlml import artifacts
from sqlml.kinds.forecaster import candidates, correction
from sqlml.kinds.forecaster import model as forecaster
from sqlml.kinds.forecaster import windows as fw
from sqlml.kinds.forecaster.inputs import Series
from sqlml.paths import project_root
from test_forecaster_choice import TINY, quarterly

SPEC = json.loads((project_root() / "models" / "forecaster.json").read_text())


def _series(values: np.ndarray) -> Series:
    return Series(series_id="s", start=0, values=np.asarray(values, dtype=np.float64),
                  filled=0)


def _bases(values, ends, name, fit_end=50):
    return candidates.origin_forecasts(candidates.fit(values, 4, name, fit_end), values,
                                       ends, 8)


def test_an_origins_base_reads_only_the_fit_and_the_history_before_the_origin():
    """No look-ahead: what follows an origin (past the fit's end) never changes its
    forecast; the fit's own periods do (its parameters come from them)."""
    rng = np.random.default_rng(1)
    t = np.arange(80)
    y = 100 + t + 10 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 2, 80)
    ends = np.array([50, 60, 64])
    for name in ("ets_arima", "arima_log", "theta", "naive", "seasonal_naive"):
        base = _bases(y, ends, name)
        later = y.copy()
        later[64:] *= 3.0
        assert np.allclose(_bases(later, ends, name), base)
        moved = y.copy()
        moved[60:] *= 3.0
        after = _bases(moved, ends, name)
        assert np.allclose(after[0], base[0]), name  # origin 50 does not see period 60
        assert not np.allclose(after[1:], base[1:]), name


def test_the_origin_at_the_fits_end_is_the_library_forecast():
    y = quarterly(n_series=1, length=48).value.to_numpy()
    for name in ("ets_arima", "ets_arima_log", "theta"):
        at_end = _bases(y, np.array([40]), name, fit_end=40)
        assert np.allclose(at_end[0], candidates.forecast(y[:40], 8, 4, name)[0])


def test_the_refit_reuses_each_series_fit():
    """One fit per series: the refit's windows are forecast by the backtest's models."""
    frame = quarterly(n_series=2, length=48)
    series = [_series(g.value.to_numpy()) for _, g in frame.groupby("series_id")]
    plan = correction.Plan.make("ets_arima", 2, {})
    windows = fw.sliding(series, 12, 8, cut=0)
    first = correction.window_bases(series, windows, plan, 8, 4, lambda s: 30)
    fitted = dict(plan.fits)
    again = correction.window_bases(series, windows, plan, 8, 4, len)
    assert plan.fits == fitted and np.allclose(first, again)


def test_the_backtest_fit_ends_before_every_validation_window_of_the_network():
    s = _series(np.arange(1.0, 61.0))
    valid = fw.tail([s], lookback=12, horizon=8, cut=8, count=3)
    first_target = (valid.first - s.start + 12).min()
    assert correction.backtest_fit_end(s, 8, 3) == first_target


def test_the_correction_trains_on_an_evenly_spaced_sample_of_series_and_windows():
    plan = correction.Plan.make("ets_arima", 10, {"max_correction_series": 4,
                                                  "max_correction_windows": 6})
    assert len(plan.keep) == 4 and {0, 9} <= plan.keep
    windows = fw.Windows(inputs=np.zeros((30, 3)), targets=np.zeros((30, 2)),
                         first=np.tile(np.arange(3), 10), series=np.repeat(np.arange(10), 3))
    assert sorted(set(plan.validation(windows).series)) == sorted(plan.keep)
    assert len(plan.validation(windows)) == 12
    trained = plan.training(windows)
    assert len(trained) == 6 and set(trained.series) == plan.keep


@pytest.mark.slow
def test_the_network_starts_as_the_library_base_and_is_gated_on_its_validation_windows():
    frame = quarterly(n_series=3, length=56)
    trained = forecaster.train(frame, SPEC, {**TINY, "horizon": 8, "epochs": 0})
    metrics = trained.registration["metrics"]
    record = metrics["choice"]
    assert record["network_corrects"] == "library_base"
    assert record["correction_series"] == 3
    # epochs 0: the correction is zero, so the network's backtest is the base's, and
    # the gate (8 validation windows per series) cannot open.
    assert np.isclose(record["network_backtest_mase"], record["base_backtest"]["mase"])
    assert record["gate_windows"] == 3 * 8
    assert record["network"] == "off"
    assert all(row["network_added_backtest_mase"] == 0 for row in record["series"])


def _with_network(trained, mode: str):
    """The version's ONNX bundle with its gate set to ``mode``."""
    bundle = artifacts.unpack(trained.onnx_artifact, trained.registration["onnx_sha256"],
                              "onnx_artifact")
    pre = dict(bundle.preprocessing)
    pre["base_choice"] = {**pre["base_choice"], "network": mode}
    blob = artifacts.pack("forecaster", "model.onnx", bundle.model_bytes, pre)
    return blob, artifacts.sha256(blob)


@pytest.mark.slow
def test_forecasting_adds_the_correction_to_the_base_refitted_on_the_history_given():
    frame = quarterly(n_series=2, length=56)
    trained = forecaster.train(frame, SPEC, {**TINY, "horizon": 8, "epochs": 0})
    blob, sha = _with_network(trained, "alone")
    out = forecaster.forecast(frame, blob, sha)
    own = trained.registration["metrics"]["choice"]["series"]
    for row in own:
        y = frame[frame.series_id == row["series_id"]].value.to_numpy()
        expected = candidates.forecast(y, 8, 4, row["base"], 0.8)[0]
        got = out[out.series_id == row["series_id"]].sort_values("step")
        # A zero correction is the base itself; the bounds come from the network's
        # validation residuals around it.
        assert np.allclose(got.forecast.to_numpy(), expected)
        assert (got.lower <= got.forecast).all() and (got.forecast <= got.upper).all()
    # Fewer steps than the model's horizon: the first ones of the same forecast.
    short = forecaster.forecast(frame, blob, sha, horizon=3)
    assert np.allclose(short.forecast.to_numpy(),
                       out[out.step <= 3].sort_values(["series_id", "step"]).forecast)


@pytest.mark.slow
def test_monthly_series_keep_the_network_on_its_window_base():
    rng = np.random.default_rng(0)
    stamps = pd.date_range("2010-01-01", periods=96, freq="MS")
    t = np.arange(96)
    frame = pd.concat([pd.DataFrame({
        "series_id": f"m{k}", "period": stamps,
        "value": (100 + k + t) * (1 + 0.2 * np.sin(2 * np.pi * t / 12)) + rng.normal(0, 2, 96)})
        for k in range(2)], ignore_index=True)
    trained = forecaster.train(frame, SPEC, {**TINY, "epochs": 0})
    record = trained.registration["metrics"]["choice"]
    assert record["network_corrects"] == "window_theta"
    assert record["correction_series"] is None
