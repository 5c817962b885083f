"""Hold-out check of the forecaster per frequency, beside naive, seasonal naive and
statistical methods on the same split.

    .venv/bin/python tests/benchmarks/holdout_frequencies.py \\
        [--frequencies daily,weekly,quarterly] [--data generated|statsmodels] \\
        [--series 12] [--options '{"ensemble": 2}']

For each frequency the last ``horizon`` periods of every series (the frequency's
default horizon: 24 hours, 14 days, 10 business days, 13 weeks, 12 months,
8 quarters, 6 years) are held back. The model is trained on the rest with only
``{"horizon": h}`` (plus ``--options``, e.g. a smaller ensemble on a laptop) by the
same Python that ``ml.train_forecaster`` and ``ml.forecast`` run in the database,
and every method forecasts the held-back periods of each series:

* ``model``: the LSTM forecaster (its own defaults for the frequency);
* ``naive``: the last value repeated;
* ``seasonal_naive``: the last season repeated (the frequency's main season);
* ``theta``: the Theta method on the whole history in log space (simple exponential
  smoothing plus half the drift, seasonally adjusted where the classical 90% test
  finds seasonality: the M4 competition's benchmark; this package's ``base.theta``);
* ``ets``: statsmodels' additive damped-trend exponential smoothing, seasonal where
  the history has two seasons (only when statsmodels is installed:
  ``.venv/bin/pip install statsmodels``).

Scores are MASE per series (errors over the mean absolute seasonal difference of
the series' own in-sample part; one-period differences for yearly data), then the
mean over series. ``--data generated`` uses ``sqlml.demo.series_data.frequency_frame``
(series with the frequency's cycles, trends, level shifts and AR noise);
``--data statsmodels`` uses the real series statsmodels ships: weekly Mauna Loa CO2
(cut into segments), quarterly US macro data, monthly electrical equipment orders,
yearly sunspots (cut into segments); it has no daily or hourly data.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd

from sqlml.demo import series_data
from sqlml.kinds.forecaster import base, metrics
from sqlml.kinds.forecaster import frequency as fq
from sqlml.kinds.forecaster import model as forecaster
from sqlml.paths import project_root

LENGTHS = {"hourly": (500, 800), "daily": (200, 500), "business_daily": (200, 500),
           "weekly": (150, 400), "monthly": (72, 160), "quarterly": (32, 80),
           "yearly": (24, 50)}


def generated(frequency: str, n_series: int, seed: int) -> pd.DataFrame:
    low, high = LENGTHS[frequency]
    return series_data.frequency_frame(frequency, n_series, high, low, seed)


def _segments(values: pd.Series, stamps: pd.DatetimeIndex, length: int,
              prefix: str) -> pd.DataFrame:
    frames = []
    for k, start in enumerate(range(0, len(values) - length + 1, length)):
        frames.append(pd.DataFrame({"series_id": f"{prefix}{k}",
                                    "period": stamps[start:start + length],
                                    "value": values.to_numpy()[start:start + length]}))
    return pd.concat(frames, ignore_index=True)


def statsmodels_data(frequency: str) -> pd.DataFrame:
    import statsmodels.api as sm

    if frequency == "weekly":
        co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate()
        return _segments(co2, co2.index, 280, "co2/")
    if frequency == "quarterly":
        data = sm.datasets.macrodata.load_pandas().data
        stamps = pd.PeriodIndex.from_fields(year=data.year.astype(int),
                                            quarter=data.quarter.astype(int),
                                            freq="Q").to_timestamp()
        columns = ["realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1",
                   "unemp", "pop"]
        return pd.concat([pd.DataFrame({"series_id": c, "period": stamps,
                                        "value": data[c].to_numpy()}) for c in columns],
                         ignore_index=True)
    if frequency == "monthly":
        from statsmodels.datasets import elec_equip

        data = elec_equip.load_pandas().data
        column = data.columns[0]
        return _segments(data[column], pd.DatetimeIndex(data.index), 96, "elec/")
    if frequency == "yearly":
        data = sm.datasets.sunspots.load_pandas().data
        stamps = pd.to_datetime(data.YEAR.astype(int).astype(str) + "-01-01")
        return _segments(data.SUNACTIVITY + 1.0, pd.DatetimeIndex(stamps), 44, "sun/")
    raise SystemExit(f"statsmodels ships no {frequency} series; use --data generated")


def ets(history: np.ndarray, horizon: int, season: int) -> np.ndarray | None:
    try:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
    except ImportError:
        return None
    y = np.log(history) if (history > 0).all() else history
    seasonal = season if season > 1 and len(y) >= 2 * season + 2 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ExponentialSmoothing(y, trend="add", damped_trend=True,
                                   seasonal="add" if seasonal else None,
                                   seasonal_periods=seasonal).fit()
    out = fit.forecast(horizon)
    return np.exp(out) if (history > 0).all() else out


def theta(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    positive = (history > 0).all()
    y = np.log(history) if positive else history
    level = y[-season:].mean()
    out = base.theta((y - level)[None, :], horizon, season, "test")[0] + level
    return np.exp(out) if positive else out


def run(frequency: str, data: pd.DataFrame, spec: dict, extra: dict) -> dict:
    freq = fq.FREQUENCIES[frequency]
    table = spec["frequencies"][frequency]
    h, season = table["horizon"], freq.season
    data = data.sort_values(["series_id", "period"])
    held = data.groupby("series_id").tail(h)
    train = data.drop(held.index)
    started = time.perf_counter()
    trained = forecaster.train(train, spec, {"horizon": h, **extra})
    seconds = time.perf_counter() - started
    forecasts = forecaster.forecast(train, trained.onnx_artifact,
                                    trained.registration["onnx_sha256"])
    scores: dict[str, list[float]] = {k: [] for k in
                                      ("model", "naive", "seasonal_naive", "theta", "ets")}
    for sid, actual in held.groupby("series_id"):
        history = train.loc[train.series_id == sid, "value"].to_numpy(dtype=np.float64)
        truth = actual.value.to_numpy(dtype=np.float64)
        scale = metrics.seasonal_scale(history, season)
        got = forecasts[forecasts.series_id == sid].sort_values("step")
        # The forecast periods must be the held-back ones: the calendar continues.
        assert (got.period.to_numpy() == actual.period.to_numpy()).all(), sid
        methods = {
            "model": got.forecast.to_numpy(),
            "naive": np.repeat(history[-1], h),
            "seasonal_naive": base.seasonal_naive(history[None, :], h, season)[0],
            "theta": theta(history, h, season),
            "ets": ets(history, h, season),
        }
        for name, forecast in methods.items():
            if forecast is not None:
                scores[name].append(float(np.mean(np.abs(truth - forecast)) / scale))
    m = trained.registration["metrics"]
    return {"frequency": frequency, "series": data.series_id.nunique(), "horizon": h,
            **{k: round(float(np.mean(v)), 3) for k, v in scores.items() if v},
            "adjustment": m["seasonal_adjustment"], "train_s": round(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frequencies", default="daily,weekly,quarterly")
    parser.add_argument("--data", choices=("generated", "statsmodels"), default="generated")
    parser.add_argument("--series", type=int, default=12)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--options", default="{}")
    args = parser.parse_args()
    spec = json.loads((project_root() / "models" / "forecaster.json").read_text())
    rows = []
    for frequency in args.frequencies.split(","):
        data = (generated(frequency, args.series, args.seed) if args.data == "generated"
                else statsmodels_data(frequency))
        rows.append(run(frequency, data, spec, json.loads(args.options)))
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    result = pd.DataFrame(rows).set_index("frequency")
    print(f"\nmean MASE per frequency ({args.data} data):")
    print(result.to_string())


if __name__ == "__main__":
    main()
