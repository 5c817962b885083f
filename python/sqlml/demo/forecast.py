"""The forecaster's part of ``sqlml demo``: load series, train, forecast, show, through SQL.

``run_forecast_demo(engine)`` loads the demo telco's monthly usage series into
``features.monthly_usage``, trains ``ml.train_forecaster`` on them (progress as it
arrives), forecasts with ``ml.forecast``, and prints a few series' last months
beside their forecasts and intervals, read back from
``predictions.forecast_latest`` as an analyst would. Then the same for daily usage
(``features.daily_usage``, a weekly pattern): the procedures infer the frequency,
so the daily model is trained with nothing but a horizon of two weeks. It works on
either engine.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from sqlml import routines
from sqlml.demo import series_data

MODEL_NAME = "forecast"  # the name the monthly forecast jobs use
DAILY_MODEL = "forecast_daily"
DAILY_QUERY = "SELECT series_id, period, value FROM features.daily_usage"
SHOWN_SERIES = 3
SHOWN_HISTORY = 6


def train_and_forecast(engine: sa.Engine, options: dict | None = None,
                       n_series: int = 300) -> dict:
    rows = series_data.load_series(engine, n_series=n_series)
    return _train_then_forecast(
        engine, f"{rows} rows ({n_series} monthly series) into features.monthly_usage",
        MODEL_NAME, options, _monthly_backtest)


def train_and_forecast_daily(engine: sa.Engine, options: dict | None = None,
                             n_series: int = 20) -> dict:
    rows = series_data.load_daily(engine, n_series=n_series)
    return _train_then_forecast(
        engine, f"{rows} rows ({n_series} daily series) into features.daily_usage",
        DAILY_MODEL, {"horizon": 14, **(options or {})}, _daily_backtest,
        input_query=DAILY_QUERY)


def _monthly_backtest(metrics: dict) -> str:
    return (f"{metrics.get('frequency', 'monthly')} series; backtest on each series' last "
            f"{metrics['horizon']} periods: MASE "
            f"{metrics['mase']:.3f} (seasonal naive {metrics['baseline_mase']:.3f}), sMAPE "
            f"{metrics['smape']:.1f}%, {metrics['coverage_target']:.0%} intervals cover "
            f"{metrics['coverage']:.0%}")


def _daily_backtest(metrics: dict) -> str:
    return (f"{metrics['frequency']} series, season {metrics['season']:g}; backtest on each "
            f"series' last {metrics['horizon']} days: MASE {metrics['mase']:.3f} (seasonal "
            f"naive {metrics['baseline_mase']:.3f})")


def _train_then_forecast(engine: sa.Engine, loaded: str, model_name: str,
                         options: dict | None, backtest, **query) -> dict:
    """Say what was ``loaded``, train ``model_name`` (progress as it arrives), print its
    version and the line ``backtest(metrics)`` makes of its metrics, then forecast with it."""
    print(f"\nforecaster: loaded {loaded}")
    [trained] = routines.call(engine, "train_forecaster", progress=_indent,
                              model_name=model_name,
                              options=json.dumps(options) if options else None, **query)
    metrics = json.loads(trained["metrics"]) if isinstance(trained["metrics"], str) \
        else trained["metrics"]
    print(f"ml.train_forecaster: {trained['model_name']} version {trained['version']} "
          f"({trained['status']})")
    print(f"  {backtest(metrics)}")
    [run] = routines.call(engine, "forecast", model_name=model_name, **query)
    print(f"ml.forecast: run {run['run_id']} wrote {run['rows_written']} rows "
          f"(model version {run['version']})")
    return {"trained": trained, "run": run}


def show_forecasts(engine: sa.Engine, model_name: str = MODEL_NAME,
                   n_series: int = SHOWN_SERIES, table: str = "features.monthly_usage",
                   width: int = 7) -> None:
    """A few series' last months, then their forecasts with intervals."""
    with engine.connect() as connection:
        ids = sorted(connection.execute(sa.text(
            "SELECT DISTINCT series_id FROM predictions.forecast_latest "
            "WHERE model_name = :m"), {"m": model_name}).scalars())[:n_series]
        if not ids:
            print(f"\nno forecasts for model {model_name!r} yet")
            return
        ids_param = sa.bindparam("ids", expanding=True)
        history = connection.execute(sa.text(
            f"SELECT series_id, period, value FROM {table} "
            "WHERE series_id IN :ids ORDER BY series_id, period").bindparams(ids_param),
            {"ids": ids}).all()
        forecasts = connection.execute(sa.text(
            "SELECT series_id, period, step, forecast, lower, upper, model_version "
            "FROM predictions.forecast_latest WHERE model_name = :m AND series_id IN :ids "
            "ORDER BY series_id, step").bindparams(ids_param),
            {"m": model_name, "ids": ids}).all()
    print(f"\npredictions.forecast_latest ({model_name}): last {SHOWN_HISTORY} periods, "
          "then the forecast [interval]")
    for sid in ids:
        past = [r for r in history if r.series_id == sid][-SHOWN_HISTORY:]
        ahead = [r for r in forecasts if r.series_id == sid]
        print(f"  {sid}  (model version {ahead[0].model_version})")
        for r in past:
            print(f"    {str(r.period)[:width]:10}  {r.value:10.1f}")
        for r in ahead:
            print(f"    {str(r.period)[:width]:10}  {r.forecast:10.1f}  [{r.lower:.1f}, "
                  f"{r.upper:.1f}]"
                  f"  step {r.step}")


def run_forecast_demo(engine: sa.Engine, options: dict | None = None,
                      n_series: int = 300, daily_series: int = 20) -> None:
    train_and_forecast(engine, options, n_series)
    show_forecasts(engine)
    daily_options = {k: v for k, v in (options or {}).items()
                     if k not in ("horizon", "lookback", "validation_origins")}
    train_and_forecast_daily(engine, daily_options, daily_series)
    show_forecasts(engine, DAILY_MODEL, table="features.daily_usage", width=10)


def _indent(message: str) -> None:
    print(f"  {message}", flush=True)
