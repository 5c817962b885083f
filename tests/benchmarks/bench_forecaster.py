"""Benchmark: forecaster training and forecasting (not part of make test).

    .venv/bin/python tests/benchmarks/bench_forecaster.py [--series 500] [--months 120]
        [--min-months 120] [--options '{"ensemble": 5}'] [--in-database] [--url URL]
        [--compare]

``--compare`` first trains the same series with ``{"candidates": false}`` (the network
on its window base alone, the forecaster before the base was chosen on validation),
then as asked, and prints both wall and CPU times: the machine is shared, so a
comparison is only fair within one run. The demo's set is ``--series 300 --months 120
--min-months 72``.

Generates N synthetic series of M months each (sqlml.demo.series_data), then times:
  * in-process: forecaster.train (backtest + refit, the spec's defaults unless
    --options) and forecaster.forecast on the same DataFrame, no database;
  * with --in-database: the same through ml.train_forecaster and ml.forecast on
    the embedded PostgreSQL (or --url), after a bulk load of the series.
It prints the backtest figures beside seasonal naive's, so speed and quality are
read together.
"""

from __future__ import annotations

import argparse
import json
import time

from sqlml import embedded_pg, routines
from sqlml.connect import create_engine, resolve_url
from sqlml.demo import series_data
from sqlml.demo.bulk import insert_frame
from sqlml.deploy import deploy
from sqlml.kinds.forecaster import model as forecaster
from sqlml.paths import project_root


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def in_database(url: str | None, frame, options: dict) -> None:
    if not url:
        embedded_pg.start()
    url = url or resolve_url()
    deploy(url, log=lambda message: None)
    engine = create_engine(url)
    rows = frame.assign(period=frame["period"].dt.date)
    _, load_s = timed(lambda: insert_frame(engine, "features.monthly_usage", rows))
    [trained], train_s = timed(lambda: routines.call(
        engine, "train_forecaster", model_name="bench_forecast", options=json.dumps(options)))
    [first], forecast_cold = timed(lambda: routines.call(engine, "forecast",
                                                         model_name="bench_forecast"))
    [_], forecast_s = timed(lambda: routines.call(engine, "forecast",
                                                  model_name="bench_forecast"))
    engine.dispose()
    metrics = json.loads(trained["metrics"])
    print(f"bulk load (COPY):              {load_s:7.2f} s")
    print(f"ml.train_forecaster:           {train_s:7.2f} s  (backtest MASE {metrics['mase']:.4f})")
    print(f"ml.forecast, 1st call:         {forecast_cold:7.2f} s  "
          f"({first['rows_written']} rows written)")
    print(f"ml.forecast:                   {forecast_s:7.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--min-months", type=int, default=0)
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--options", default="{}")
    parser.add_argument("--in-database", action="store_true")
    parser.add_argument("--url")
    args = parser.parse_args()

    spec = json.loads((project_root() / "models" / "forecaster.json").read_text())
    options = json.loads(args.options)
    frame = series_data.series_frame(args.series, args.months,
                                     args.min_months or args.months, seed=7)
    marks = {}
    if args.compare:
        cpu = time.process_time()
        before, before_s = timed(lambda: forecaster.train(frame, spec,
                                                          {**options, "candidates": False}))
        cpu = time.process_time() - cpu
        print(f"before (candidates false): train {before_s:7.2f} s wall, {cpu:7.2f} s CPU; "
              f"backtest MASE {before.registration['metrics']['mase']:.4f}", flush=True)

    def progress(message: str) -> None:  # when the refit starts, to split the time
        if message.startswith("refit on full series"):
            marks["refit"] = time.perf_counter()

    start, cpu = time.perf_counter(), time.process_time()
    trained, train_s = timed(lambda: forecaster.train(frame, spec, options, progress))
    cpu = time.process_time() - cpu
    backtest_s = marks.get("refit", start + train_s) - start
    reg = trained.registration
    out, forecast_s = timed(lambda: forecaster.forecast(frame, trained.onnx_artifact,
                                                        reg["onnx_sha256"]))
    resolved = reg["spec"]["options"]
    print(f"{args.series} series x {args.months} months ({len(frame)} rows); device: "
          f"{reg['device']}")
    m = reg["metrics"]
    print(f"options: ensemble {resolved['ensemble']}, units {resolved['units']}, lookback "
          f"{resolved['lookback']}, batch {m['batch_size']} (option {resolved['batch_size']}), "
          f"learning rate {m['learning_rate']:.4f}, refit {resolved['refit']} (batch "
          f"{m.get('refit_batch_size')}, learning rate {m.get('refit_learning_rate') or 0:.4f})")
    print(f"windows: {m['windows']}; best epochs {m['best_epochs']}, epochs run "
          f"{m['epochs_run']}")
    print(f"train in-process:              {train_s:7.2f} s  (backtest {backtest_s:.2f} s, "
          f"then refit and export {train_s - backtest_s:.2f} s; {cpu:.2f} s CPU)")
    choice = reg["metrics"]["choice"]
    if choice:
        print(f"base chosen: {choice['candidate']} on {choice['evaluated_series']} series "
              f"({choice.get('seconds', 0):.1f} s), network {choice['network']}")
    print(f"forecast in-process (ONNX):    {forecast_s:7.2f} s  ({len(out)} rows)")
    print(f"backtest MASE {m['mase']:.4f}, {m['base']['model']} alone {m['base']['mase']:.4f}, "
          f"seasonal naive {m['baseline_mase']:.4f}; sMAPE {m['smape']:.2f}; "
          f"{m['coverage_target']:.0%} interval coverage {m['coverage']:.3f}")
    if args.in_database:
        in_database(args.url, frame, options)


if __name__ == "__main__":
    main()
