"""Hold-out check of the forecaster on your own monthly series, through the SQL interface.

    .venv/bin/python tests/benchmarks/holdout_forecaster.py SERIES.csv [--url URL]

SERIES.csv has columns series_id, period (a date in the month), value. The last 12
months of each series are held back; the rest is loaded into a scratch table and
the model is trained and run exactly as a user would:

    SELECT * FROM ml.train_forecaster(model_name => ..., input_query => ...,
                                      options => '{"horizon": 12}');
    SELECT * FROM ml.forecast(model_name => ..., input_query => ...);

The held-back year is then scored from predictions.forecasts: MASE (scaled by the
in-sample mean absolute 12-month difference), beside seasonal naive's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import sqlalchemy as sa

from sqlml import routines
from sqlml.connect import create_engine, resolve_url
from sqlml.demo.bulk import insert_frame
from sqlml.deploy import deploy

H = 12
MODEL = "holdout_forecast"
TABLE = "features.holdout_series"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("--url")
    parser.add_argument("--options", default='{"horizon": 12}')
    args = parser.parse_args()
    url = resolve_url(args.url)
    deploy(url, log=lambda message: None)
    engine = create_engine(url)

    data = pd.read_csv(args.csv, parse_dates=["period"]).sort_values(["series_id", "period"])
    held = data.groupby("series_id").tail(H)
    train = data.drop(held.index)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
        connection.exec_driver_sql(
            f"CREATE TABLE {TABLE} (series_id varchar(128), period date, value float8)")
    insert_frame(engine, TABLE, train[["series_id", "period", "value"]])
    query = f"SELECT series_id, period, value FROM {TABLE}"

    started = time.perf_counter()
    [trained] = routines.call(engine, "train_forecaster", model_name=MODEL,
                              input_query=query, options=args.options)
    trained_s = time.perf_counter() - started
    # Score with this version even if an earlier run left a better one active.
    routines.call(engine, "activate_model", model_name=MODEL, version=trained["version"])
    [run] = routines.call(engine, "forecast", model_name=MODEL, input_query=query)
    with engine.connect() as connection:
        forecasts = pd.read_sql(sa.text(
            "SELECT series_id, period, forecast, lower, upper FROM predictions.forecasts "
            "WHERE run_id = :run"), connection, params={"run": run["run_id"]},
            parse_dates=["period"])
        connection.exec_driver_sql(f"DROP TABLE {TABLE}")
        connection.commit()
    engine.dispose()

    rows = []
    for sid, actual in held.groupby("series_id"):
        history = train.loc[train.series_id == sid, "value"].to_numpy()
        scale = np.mean(np.abs(history[12:] - history[:-12]))
        got = actual.merge(forecasts[forecasts.series_id == sid], on=["series_id", "period"])
        naive = history[-12:][: len(actual)]
        rows.append({
            "series_id": sid,
            "months": len(got),
            "mase": np.mean(np.abs(got.value - got.forecast)) / scale,
            "seasonal_naive": np.mean(np.abs(actual.value.to_numpy() - naive)) / scale,
            "covered": np.mean((got.value >= got.lower) & (got.value <= got.upper)),
        })
    result = pd.DataFrame(rows).set_index("series_id")
    print(result.round(3).to_string())
    print(f"\nmean MASE {result.mase.mean():.3f}  seasonal naive {result.seasonal_naive.mean():.3f}"
          f"  interval coverage {result.covered.mean():.2f}  (model version "
          f"{trained['version']}, trained in {trained_s:.0f} s in the database)")


if __name__ == "__main__":
    main()
