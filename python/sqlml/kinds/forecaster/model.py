"""The LSTM forecaster: input checks, backtest, refit, intervals, forecasting.

Rows are ``series_id``, ``period``, ``value`` (see ``inputs`` for how bad rows
are handled). One global network serves every series (``network``),
in the per-window normalisation of ``windows``.

Training one version, for each series of n months:

1. **Backtest.** The last ``horizon`` months are held out. Of the rest, the
   windows whose targets end in its last ``validation_origins`` months are the
   validation set (early stopping); with 15 real series one window each would be
   too few to choose epochs by (measured: the network then beat validation and
   lost on the held-out year). Every earlier window trains (stride 1). The
   held-out months are then forecast and scored: MASE (seasonal scale), sMAPE,
   RMSE, interval coverage, the base method's scores, and seasonal naive's on the
   same months (``baseline_mase``). A series too short for a training window
   still gives validation and test windows; when no series is long enough for
   any training window, the network keeps its starting point, the base method,
   and training says so.
2. **Intervals** come from the validation residuals, in units of each window's
   seasonal scale: a width per horizon step (the mean absolute residual, made
   non-decreasing in the step) times the ``coverage`` quantile of the residuals
   divided by those widths, pooled over steps. Their coverage on the held-out
   months is recorded.
3. **Refit** (``refit``: true, the default): the network is trained again on
   every window of the full series, each ensemble member for the number of epochs
   it found best in the backtest, so the version that is stored has seen the most
   recent months. Its metrics are the backtest's. With ``refit`` false the
   backtest network itself is stored.

Forecasting reads the last ``lookback`` months of each series and runs the ONNX
graph; TensorFlow is not imported.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from sqlml import artifacts
from sqlml.errors import ArtifactError, InputError
from sqlml.kinds import TrainedModel, drift
from sqlml.kinds.forecaster import inputs, metrics, network
from sqlml.kinds.forecaster import windows as fw
from sqlml.kinds.forecaster.base import BASES
from sqlml.kinds.training import Progress
from sqlml.specs import resolve_options

ROUTINE = "ml.train_forecaster"
FORECAST = "ml.forecast"
KIND = "forecaster"
PARITY_TOLERANCE = 1e-5
MIN_LOOKBACK = 2 * fw.SEASON
TRANSFORMS = ("auto", "log", "none")
MIN_AUTO_BATCH, MAX_AUTO_BATCH = 64, 512


def _check_options(opts: dict, limits: dict) -> None:
    checks = {
        "horizon": 1 <= opts["horizon"] <= limits["max_horizon"],
        "lookback": MIN_LOOKBACK <= opts["lookback"] <= limits["max_lookback"],
        "units": opts["units"] >= 1,
        "layers": opts["layers"] >= 1,
        "ensemble": 1 <= opts["ensemble"] <= limits["max_ensemble"],
        "batch_size": opts["batch_size"] >= 0,
        "learning_rate": opts["learning_rate"] > 0,
        "dropout": 0 <= opts["dropout"] < 1,
        "patience": opts["patience"] >= 1,
        "validation_origins": 1 <= opts["validation_origins"] <= opts["horizon"],
        "coverage": 0 < opts["coverage"] < 1,
        "transform": opts["transform"] in TRANSFORMS,
        "base": opts["base"] in BASES,
    }
    for name, ok in checks.items():
        if not ok:
            raise InputError(
                f"option {name!r} of {ROUTINE} is out of range: {json.dumps(opts[name])} "
                f"(1 <= horizon <= {limits['max_horizon']}; {MIN_LOOKBACK} <= lookback <= "
                f"{limits['max_lookback']}; units, layers, patience >= 1; "
                "batch_size >= 0 (0: auto); 1 <= validation_origins <= horizon; "
                f"1 <= ensemble <= {limits['max_ensemble']}; learning_rate > 0; "
                "0 <= dropout < 1; 0 < coverage < 1; transform 'auto', 'log' or 'none')"
            )


def batch_and_rate(opts: dict, n_windows: int) -> tuple[int, float]:
    """``batch_size`` 0 (auto): 64 windows a step for up to a few thousand windows, the
    regime of a few dozen real series, where small steps learn most; more for big
    sets, about 50 steps an epoch up to 512, with the learning rate scaled by the
    square root of the batch growth (Adam's usual rule). Measured on 500 series x 120
    months, 2 CPU cores: 410 s instead of 1098 s at batch 64, same backtest MASE."""
    if opts["batch_size"]:
        return opts["batch_size"], opts["learning_rate"]
    batch = int(2 ** np.floor(np.log2(max(n_windows / 50, 1.0))))
    batch = min(MAX_AUTO_BATCH, max(MIN_AUTO_BATCH, batch))
    return batch, opts["learning_rate"] * float(np.sqrt(batch / MIN_AUTO_BATCH))


def fit_intervals(residuals: np.ndarray, coverage: float) -> list[float]:
    """Half-widths per step, in units of the seasonal scale, from validation residuals."""
    size = np.abs(residuals)
    per_step = np.maximum.accumulate(np.maximum(size.mean(axis=0), 1e-6))
    ratio = float(np.quantile(size / per_step, coverage))
    return [float(w) for w in per_step * ratio]


def _encoded(windows: fw.Windows, scaling: fw.Scaling):
    x, context = fw.encode(windows, scaling)
    y = fw.targets(windows, context, scaling) if windows.targets is not None else None
    return x, y, context


def train(frame: pd.DataFrame, spec: dict, options: str | dict | None,
          progress: Progress = lambda message: None) -> TrainedModel:
    """Train one version: the two bundles and the registry row."""
    started = time.perf_counter()
    opts = resolve_options(spec, options, ROUTINE)
    limits = spec["limits"]
    _check_options(opts, limits)
    horizon, lookback = opts["horizon"], opts["lookback"]
    series, log_space = inputs.regularise(frame, ROUTINE, opts["transform"],
                                           limits["max_gap_months"])
    inputs.refuse_short(series, horizon + 2 * fw.SEASON, ROUTINE,
                         "horizon + 24, to backtest with two years in sample")
    series = inputs.backfill(series, lookback + horizon)
    padded = sum(1 for s in series if s.padded)

    origins = opts["validation_origins"]
    train_w = fw.sliding(series, lookback, horizon, cut=2 * horizon + origins - 1)
    valid_w = fw.tail(series, lookback, horizon, cut=horizon, count=origins)
    test_w = fw.last(series, lookback, horizon, cut=0)
    if len(valid_w) == 0:
        longest = max(series, key=len)
        raise InputError(
            f"{ROUTINE}: no series is long enough to validate and backtest: that needs "
            f"lookback + 2 x horizon = {lookback + 2 * horizon} months in at least one "
            f"series (the longest, {longest.series_id!r}, has {len(longest)}); "
            "use a smaller lookback"
        )
    if len(train_w) == 0:
        # Still a sound model: the network starts as the base method and keeps it.
        progress(f"{ROUTINE}: no series has the lookback + 3 x horizon + validation_origins"
                 f" - 1 = {lookback + 3 * horizon + origins - 1} months a backtest training "
                 f"window needs, so the network is not trained: the model is the {opts['base']}"
                 " base; use a smaller lookback or fewer validation_origins to train it")
    filled = sum(s.filled for s in series)
    progress(f"{ROUTINE}: {len(series)} series, {sum(len(s.real) for s in series)} months "
             f"({filled} interpolated), {'log' if log_space else 'linear'} space; backtest "
             f"windows: {len(train_w)} train, {len(valid_w)} valid, {len(test_w)} test")
    if padded:
        progress(f"{ROUTINE}: {padded} series shorter than lookback + horizon = "
                 f"{lookback + horizon} months were back-filled with their first year")

    # The scaling constants come from inputs only; validation inputs stand in when
    # there is no training window.
    scaling = fw.fit_scaling(train_w if len(train_w) else valid_w, lookback, horizon,
                             log_space, opts["base"])
    x_train, y_train, _ = _encoded(train_w, scaling)
    x_valid, y_valid, _ = _encoded(valid_w, scaling)
    batch, rate = batch_and_rate(opts, len(train_w))
    fit_opts = {**opts, "batch_size": batch, "learning_rate": rate}
    fitted = network.fit(x_train, y_train, x_valid, y_valid, fit_opts, progress)
    widths = fit_intervals(y_valid - network.predict(fitted.model, x_valid),
                           opts["coverage"])

    x_test, _, test_context = _encoded(test_w, scaling)
    delta = network.predict(fitted.model, x_test)
    forecast, lower, upper = _values(delta, test_context, scaling, widths)
    scales = np.array([metrics.seasonal_scale(series[i].real[:-horizon])
                       for i in test_w.series])
    naive = np.stack([metrics.seasonal_naive(series[i].real[:-horizon], horizon)
                      for i in test_w.series])
    model_metrics = metrics.backtest(test_w.targets, forecast, scales, lower, upper)
    baseline = metrics.backtest(test_w.targets, naive, scales)
    start = metrics.backtest(
        test_w.targets, fw.decode(np.zeros_like(delta), test_context, scaling), scales)
    progress(f"{ROUTINE}: backtest MASE {model_metrics['mase']:.4f} (seasonal naive "
             f"{baseline['mase']:.4f}, {opts['base']} alone {start['mase']:.4f}), "
             f"{opts['coverage']:.0%} interval coverage "
             f"{model_metrics['coverage']:.3f}")

    final, final_scaling = fitted, scaling
    if opts["refit"]:
        full_w = fw.sliding(series, lookback, horizon, cut=0)
        final_scaling = fw.fit_scaling(full_w, lookback, horizon, log_space, opts["base"])
        x_full, y_full, _ = _encoded(full_w, final_scaling)
        final = network.fit(x_full, y_full, None, None, fit_opts, progress,
                                       fixed_epochs=fitted.best_epochs)

    preprocessing = {
        "scaling": final_scaling.to_json(),
        "interval_half_widths": widths,
        "coverage": opts["coverage"],
        "max_gap_months": limits["max_gap_months"],
    }
    x_check, _, _ = _encoded(fw.last(series, lookback, horizon, cut=0, with_targets=False),
                             final_scaling)
    expected = network.predict(final.model, x_check)
    keras_blob = artifacts.pack(KIND, "model.keras", artifacts.keras_bytes(final.model),
                                preprocessing)
    onnx_model, parity = artifacts.onnx_bytes_checked(final.model, x_check, expected,
                                                      PARITY_TOLERANCE)
    onnx_blob = artifacts.pack(KIND, "model.onnx", onnx_model, preprocessing)

    all_metrics = {
        "mase": model_metrics["mase"],
        "smape": model_metrics["smape"],
        "rmse": model_metrics["rmse"],
        "coverage": model_metrics["coverage"],
        "coverage_target": opts["coverage"],
        "coverage_by_step": model_metrics["coverage_by_step"],
        "baseline_mase": baseline["mase"],
        "baseline": {"model": "seasonal_naive", **baseline},
        "base": {"model": opts["base"], **start},
        "horizon": horizon,
        "lookback": lookback,
        "n_series": len(series),
        "n_test_points": int(test_w.targets.size),
        "filled_points": int(filled),
        "backfilled_series": int(padded),
        "windows": {"train": len(train_w), "valid": len(valid_w), "test": len(test_w)},
        "transform": "log" if log_space else "none",
        "valid_mae": fitted.valid_mae,
        "valid_mae_seasonal_naive": fitted.start_mae,
        "batch_size": batch,
        "learning_rate": rate,
        "best_epochs": fitted.best_epochs,
        "epochs_run": fitted.epochs_run,
        "refit": bool(opts["refit"]),
        "onnx_max_abs_diff": parity,
        "backtest_points": metrics.backtest_points(series, test_w.series, test_w.targets,
                                                   forecast, lower, upper, naive),
    }
    return TrainedModel.build(
        keras_blob=keras_blob, onnx_blob=onnx_blob, spec=spec, options=opts,
        metrics=all_metrics,
        feature_schema={
            "series_id_column": "series_id",
            "period_column": "period",
            "value_column": "value",
            "frequency": "monthly",
            "lookback": lookback,
            "horizon": horizon,
            "channels": ["z", "month_sin", "month_cos", "log_scale"],
            "series": len(series),
            "profile": drift.series_profile(frame),
        },
        trained_rows=sum(len(s.real) - s.filled for s in series), started=started,
        device=fitted.device,
    )


def _values(delta: np.ndarray, context: fw.Context, scaling: fw.Scaling,
            widths: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    half = np.asarray(widths[: delta.shape[1]])[None, :]
    return (fw.decode(delta, context, scaling),
            fw.decode(delta, context, scaling, -half),
            fw.decode(delta, context, scaling, half))


def forecast(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
             horizon: int | None = None) -> pd.DataFrame:
    """``horizon`` months after each series' last month, from the ONNX bundle: one row
    per series and step with series_id, period (on the series' own day of the month,
    see ``inputs.day_conventions``), step, forecast, lower, upper."""
    bundle = artifacts.unpack(onnx_artifact, onnx_sha256, "onnx_artifact")
    if bundle.kind != KIND or bundle.member != "model.onnx":
        raise ArtifactError(f"onnx_artifact holds a {bundle.kind} {bundle.member}, "
                            "not a forecaster ONNX model")
    pre = bundle.preprocessing
    scaling = fw.Scaling.from_json(pre["scaling"])
    steps = scaling.horizon if horizon is None else int(horizon)
    if not 1 <= steps <= scaling.horizon:
        raise InputError(f"{FORECAST}: horizon {steps} is outside what the model was trained "
                         f"for (1 to {scaling.horizon} months)")
    series, _ = inputs.regularise(frame, FORECAST, "log" if scaling.log_space else "none",
                                   pre["max_gap_months"])
    inputs.refuse_short(series, 2 * fw.SEASON, FORECAST,
                         "two years, the least history a forecast starts from")
    series = inputs.backfill(series, scaling.lookback)
    windows = fw.last(series, scaling.lookback, scaling.horizon, cut=0, with_targets=False)
    x, context = fw.encode(windows, scaling)
    delta = artifacts.onnx_predict(artifacts.onnx_session(bundle.model_bytes), x)[:, :steps]
    values, lower, upper = _values(delta, context, scaling, pre["interval_half_widths"])
    step = np.tile(np.arange(1, steps + 1), len(series))
    last_ordinal = np.repeat([s.last.ordinal for s in series], steps)
    conventions = inputs.day_conventions(frame)
    days = np.repeat([conventions[s.series_id] for s in series], steps)
    periods = inputs.period_dates(last_ordinal + step, days)
    return pd.DataFrame({
        "series_id": np.repeat([s.series_id for s in series], steps).astype(object),
        "period": periods.astype("datetime64[ns]"),
        "step": step.astype(np.int64),
        "forecast": values.reshape(-1),
        "lower": lower.reshape(-1),
        "upper": upper.reshape(-1),
    })
