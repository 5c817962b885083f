"""Series scale (issue 27, item 3): time and the backend's peak memory of one
``ml.forecast`` and one ``ml.train_forecaster`` call over 1,000 and 10,000 monthly
series, so the growth with the number of series is visible.

    .venv/bin/python tests/benchmarks/bench_series_scale.py [--series 1000,10000]
        [--months 120] [--train-options '{"epochs": 1, "ensemble": 1}']
        [--no-train] [--url URL] [--skip-deploy]

``make bench`` runs it through ``bench_suite.py --scale-series 1000,10000``. Each
series has ``--months`` periods (sqlml.demo.series_data, all of the same length, so
every size has the same windows per series; every size is forecast with the version
trained on the smallest). Memory as bench_scale.py measures it:
a fresh session per call, its warm peak first (VmHWM of ``/proc/<pg_backend_pid()>``
after a call over 20 series, which loads Python, pandas, ONNX Runtime or TensorFlow),
then the call over every series; the figure is the peak after the call minus the
warm peak, beside the time. Training's warm call trains on 100 series with the same
options. The server must run on this host (``/proc`` is read).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
import bench_suite as suite  # noqa: E402

MODEL = "bench_series_scale"
WARM_SERIES = 20
WARM_TRAIN_SERIES = 100
TRAIN_OPTIONS = '{"epochs": 1, "ensemble": 1, "patience": 1}'


def make_tables(engine: sa.Engine, sizes: list[int], months: int) -> dict[int, str]:
    """One table per size: the largest generated once, the smaller ones its first series."""
    from sqlml.demo import series_data

    largest = max(sizes)
    frame = series_data.series_frame(largest, months, months, seed=27)
    frame["period"] = frame["period"].dt.date
    raw = f"{suite.SCHEMA}.series_raw"
    with engine.begin() as c:
        c.exec_driver_sql(f"DROP TABLE IF EXISTS {raw}")
        c.exec_driver_sql(f"CREATE TABLE {raw} (series_id text NOT NULL, period date NOT NULL,"
                          " value double precision)")
    suite.insert_frame(engine, raw, frame)
    ids = list(dict.fromkeys(frame["series_id"]))
    tables = {}
    with engine.begin() as c:
        c.exec_driver_sql(f"DROP TABLE IF EXISTS {suite.SCHEMA}.series_order")
        c.exec_driver_sql(f"CREATE TABLE {suite.SCHEMA}.series_order (series_id text, k int)")
    suite.insert_frame(engine, f"{suite.SCHEMA}.series_order",
                       __import__("pandas").DataFrame({"series_id": ids,
                                                       "k": range(len(ids))}))
    for size in sorted(set(sizes) | {WARM_SERIES, WARM_TRAIN_SERIES}):
        name = f"series_{size}"
        with engine.begin() as c:
            c.exec_driver_sql(f"DROP TABLE IF EXISTS {suite.SCHEMA}.{name}")
            c.exec_driver_sql(
                f"CREATE TABLE {suite.SCHEMA}.{name} AS SELECT r.series_id, r.period, r.value"
                f" FROM {raw} AS r JOIN {suite.SCHEMA}.series_order AS o USING (series_id)"
                f" WHERE o.k < {size}")
            c.exec_driver_sql(f"ANALYZE {suite.SCHEMA}.{name}")
        tables[size] = name
    return tables


def query(table: str) -> str:
    return f"SELECT series_id, period, value FROM {suite.SCHEMA}.{table}"


def train(raw, model: str, table: str, options: str) -> dict:
    with raw.cursor() as cur:
        cur.execute("SELECT metrics FROM ml.train_forecaster(model_name => %s,"
                    " input_query => %s, options => %s, activate => true)",
                    (model, query(table), options))
        [metrics] = cur.fetchone()
    raw.commit()
    return json.loads(metrics) if isinstance(metrics, str) else metrics


def forecast(raw, model: str, table: str) -> int:
    with raw.cursor() as cur:
        cur.execute("SELECT rows_written FROM ml.forecast(model_name => %s, input_query => %s)",
                    (model, query(table)))
        [written] = cur.fetchone()
    raw.commit()
    return int(written)


def measured(sessions: sa.Engine, warm, call) -> dict:
    """A fresh session: its warm call, then the measured one."""
    raw = suite.new_session(sessions)
    warm(raw)
    warm_mb = suite.backend_peak_mb(raw)
    start = time.perf_counter()
    try:
        result = call(raw)
    except Exception as exc:  # the figure still shows how far and how high it went
        raw.rollback()
        result = {"error": str(exc).splitlines()[0][:200]}
    seconds = time.perf_counter() - start
    peak = suite.backend_peak_mb(raw)
    raw.close()
    return {"seconds": seconds, "warm_mb": warm_mb, "peak_mb": peak,
            "delta_mb": peak - warm_mb, "result": result}


def series_figures(engine: sa.Engine, sessions: sa.Engine, sizes: list[int], months: int,
                   options: str = TRAIN_OPTIONS, with_training: bool = True) -> list[dict]:
    """Training (optional) and forecasting at each size, beside the smallest's."""
    tables = make_tables(engine, sizes, months)
    out = []
    # Every size is forecast with one version (the smallest size's), so the forecasts
    # differ by the number of series alone.
    forecaster = f"{MODEL}_{min(sizes)}"
    for size in sorted(sizes):
        model = f"{MODEL}_{size}"
        row = {"series": size}
        if with_training or not _has_active(engine, forecaster):
            row["train"] = measured(
                sessions, lambda raw, m=model: train(raw, f"{m}_warm",
                                                     tables[WARM_TRAIN_SERIES], options),
                lambda raw, m=model, t=tables[size]: train(raw, m, t, options))
        row["forecast"] = measured(
            sessions, lambda raw: forecast(raw, forecaster, tables[WARM_SERIES]),
            lambda raw, t=tables[size]: forecast(raw, forecaster, t))
        out.append(row)
    first = out[0]
    for row in out:
        n = row["series"]
        for step in ("train", "forecast"):
            if step not in row or step not in first:
                continue
            it, base = row[step], first[step]
            extra = {"series": n, "months": months, "peak_mb": round(it["peak_mb"], 1),
                     "warm_mb": round(it["warm_mb"], 1)}
            result = it["result"]
            if isinstance(result, dict) and "error" in result:
                extra["error"] = result["error"]
            elif step == "train":
                extra.update(options=options, windows=result.get("windows"),
                             mase=result.get("mase"), sample=result.get("sample"))
            else:
                extra["rows_written"] = result
            suite.figure(f"{step} {n:,} series, time", it["seconds"], "s", base["seconds"],
                         f"{first['series']:,} series",
                         f"<= {n / first['series'] * 1.2:.1f}x", **extra)
            suite.figure(f"{step} {n:,} series, memory", it["delta_mb"], "MB",
                         base["delta_mb"], f"{first['series']:,} series above warm",
                         "bounded by the batch of series", **extra)
    return out


def _has_active(engine: sa.Engine, model: str) -> bool:
    with engine.begin() as c:
        return bool(c.execute(sa.text("SELECT count(*) FROM models.registry WHERE"
                                      " model_name = :m AND status = 'active'"),
                              {"m": model}).scalar())


def prepare(url: str | None, skip_deploy: bool) -> tuple[sa.Engine, sa.Engine]:
    from sqlml import embedded_pg
    from sqlml.connect import create_engine, resolve_url
    from sqlml.deploy import deploy

    url = url or resolve_url()
    if not skip_deploy:
        embedded_pg.start()
        deploy(url, log=lambda message: None)
    engine = create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {suite.SCHEMA}")
    return engine, sa.create_engine(engine.url, poolclass=sa.pool.NullPool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--series", default="1000,10000", help="sizes, comma-separated")
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--train-options", default=TRAIN_OPTIONS)
    parser.add_argument("--no-train", action="store_true",
                        help="forecast only (a model trained earlier, or trained now once)")
    parser.add_argument("--skip-deploy", action="store_true")
    args = parser.parse_args()
    engine, sessions = prepare(args.url, args.skip_deploy)
    series_figures(engine, sessions, [int(n) for n in args.series.split(",")], args.months,
                   args.train_options, not args.no_train)
    print()
    for row in suite.results:
        print("BENCH " + json.dumps(row, sort_keys=True))


if __name__ == "__main__":
    main()
