"""`make bench`: every performance figure of issue 11 beside its baseline from the same run.

    .venv/bin/python tests/benchmarks/bench_suite.py [--rows 200000] [--url URL]
        [--memory-rows 200000] [--train-rows 20000] [--train-options '{"epochs": 3}']
        [--single 50] [--cold 5] [--repeat 3] [--forecaster] [--shape customers|telco]

Full sizes (about 15 minutes on 2 cores):
    make bench BENCH_ARGS="--memory-rows 1000000 --train-rows 100000 \
        --train-options '{}' --forecaster"
Issue 27's scale figures (about 25 minutes more):
    make bench BENCH_ARGS="--scale-rows 1000000,5000000 --scale-train-rows 1000000 \
        --scale-series 1000,10000"

It builds its own data (schema ``sqlml_bench`` on the embedded engine, or --url,
deployed first), calls only the public interface (``SELECT * FROM ml.score_churn(...)``,
``ml.train_churn_model``), and prints each figure with its baseline and their
ratio, then one JSON line per figure (``BENCH {...}``) so runs can be compared.
Seconds on a shared machine are noisy; ratios from the same run are not, so the
timed steps alternate with their baselines and each figure is a median.

Figures:
  * batch scoring of N rows vs the floor: ``INSERT ... SELECT`` of the same rows,
    one float each, into a plain table (and, for reference, into a table shaped
    like ``predictions.churn_scores``, with its key and index);
  * the client-side path (pull with psycopg into pandas, score with the same ONNX
    model, COPY back into a table shaped like the scores) vs in-database;
  * single-row calls: warm p50/p99 (same session) vs a one-row INSERT ... SELECT,
    cold (a new session per call) vs opening a session and running ``SELECT 1``;
  * the scoring path's import in a fresh process vs ``import numpy`` alone, and
    the modules it loads (no scikit-learn, TensorFlow or pandas);
  * churn training in the database vs in-process on the same rows; the forecaster
    (500 x 120) with --forecaster (tests/benchmarks/bench_forecaster.py's figures);
  * peak memory (VmHWM) of the backend that scores M rows vs one that runs the floor;
  * with --scale-rows 1000000,5000000 (issue 27): one call over each size, its time and
    the backend's peak above its warm peak (tests/benchmarks/bench_scale.py); with
    --scale-train-rows 1000000, the same for training;
  * with --scale-series 1000,10000 (issue 27): ml.train_forecaster and ml.forecast over
    each number of monthly series (120 months each), time and the backend's peak above
    its warm peak (tests/benchmarks/bench_series_scale.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from sqlml import embedded_pg
from sqlml.connect import create_engine, resolve_url
from sqlml.demo import churn_data
from sqlml.demo.bulk import insert_frame
from sqlml.deploy import deploy

SCHEMA = "sqlml_bench"
MODEL = "bench_churn"
FEATURES = [
    "customer_id", "region", "plan_tier", "contract", "tenure_months", "internet_service",
    "phone_service", "streaming", "tech_support", "payment_method", "paperless_billing",
    "monthly_charges", "total_charges", "support_calls", "monthly_usage_minutes",
    "usage_change_pct",
]
# What a scoring call must not import (the cold-start rule, and pandas,
# which the PostgreSQL scoring path no longer needs).
HEAVY = ("sklearn", "tensorflow", "keras", "pandas", "scipy")
IMPORT_SCORING = "import sqlml.adapters.postgres, sqlml.kinds.churn.scoring, onnxruntime"

results: list[dict] = []


def figure(name: str, value: float, unit: str, baseline: float | None, baseline_name: str,
           target: str = "", **extra) -> None:
    ratio = value / baseline if baseline else None
    shown = f"{value:10.4f} {unit:<4}"
    base = f"{baseline:10.4f} {unit:<4} {baseline_name}" if baseline is not None else ""
    rtext = f"{ratio:6.2f}x" if ratio is not None else "       "
    print(f"{name:<34} {shown} {rtext}  baseline {base}  {target}".rstrip())
    results.append({"figure": name, "value": round(value, 6), "unit": unit,
                    "baseline": None if baseline is None else round(baseline, 6),
                    "baseline_name": baseline_name,
                    "ratio": None if ratio is None else round(ratio, 4),
                    "target": target, **extra})


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _yes_no(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 'Yes' ELSE 'No' END"


def _service(condition: str) -> str:
    return (f"CASE WHEN internet_service = 'none' THEN 'No internet service' "
            f"ELSE {_yes_no(condition)} END")


# --shape telco: the same customers in the shape of the public IBM telco churn set
# (text ids, 15 text feature columns, most of them Yes/No), which is what real churn
# tables look like and where reading text dominates. Columns the demo data lacks
# are drawn from the customer id, deterministically.
TELCO = {
    "customer_id": "lpad(customer_id::text, 7, '0') || '-T'",
    "gender": "CASE WHEN mod(customer_id, 2) = 0 THEN 'Male' ELSE 'Female' END",
    "senior_citizen": "(mod(customer_id, 6) = 0)::integer",
    "partner": _yes_no("mod(customer_id, 3) = 0"),
    "dependents": _yes_no("mod(customer_id, 5) < 2"),
    "tenure": "tenure_months",
    "phone_service": _yes_no("phone_service"),
    "multiple_lines": ("CASE WHEN NOT phone_service THEN 'No phone service' "
                       f"ELSE {_yes_no('mod(customer_id, 7) < 3')} END"),
    "internet_service": ("CASE internet_service WHEN 'dsl' THEN 'DSL' "
                         "WHEN 'fiber' THEN 'Fiber optic' ELSE 'No' END"),
    "online_security": _service("mod(customer_id, 4) = 0"),
    "online_backup": _service("mod(customer_id, 9) < 4"),
    "device_protection": _service("mod(customer_id, 11) < 5"),
    "tech_support": _service("tech_support"),
    "streaming_tv": _service("streaming"),
    "streaming_movies": _service("streaming AND mod(customer_id, 2) = 0"),
    "contract": ("CASE contract WHEN 'month-to-month' THEN 'Month-to-month' "
                 "WHEN 'one_year' THEN 'One year' ELSE 'Two year' END"),
    "paperless_billing": _yes_no("paperless_billing"),
    "payment_method": "initcap(replace(payment_method, '_', ' '))",
    "monthly_charges": "monthly_charges",
    "total_charges": "total_charges",
}
SHAPE = {"name": "customers", "columns": FEATURES}  # --shape; set in main()


def query_for(table: str, where: str = "") -> str:
    return f"SELECT {', '.join(SHAPE['columns'])} FROM {SCHEMA}.{table}{where}"


def one_customer(i: int) -> str:
    """The WHERE clause that picks customer ``i`` (1-based) in the bench's shape."""
    return (f" WHERE customer_id = '{i:07d}-T'" if SHAPE["name"] == "telco"
            else f" WHERE customer_id = {i}")


def reshape(engine: sa.Engine, table: str) -> None:
    """With --shape telco, ``table`` rewritten in that shape (churned kept for training)."""
    if SHAPE["name"] != "telco":
        return
    columns = ", ".join(f"{expr} AS {name}" for name, expr in TELCO.items())
    with engine.begin() as c:
        c.exec_driver_sql(f"CREATE TABLE {SCHEMA}.{table}_shaped AS "
                          f"SELECT {columns}, churned FROM {SCHEMA}.{table}")
        c.exec_driver_sql(f"DROP TABLE {SCHEMA}.{table}")
        c.exec_driver_sql(f"ALTER TABLE {SCHEMA}.{table}_shaped RENAME TO {table}")
        c.exec_driver_sql(f"ALTER TABLE {SCHEMA}.{table} ADD PRIMARY KEY (customer_id)")
        c.exec_driver_sql(f"ANALYZE {SCHEMA}.{table}")


def load(engine: sa.Engine, table: str, rows: int, seed: int) -> None:
    frame, _ = churn_data.customers(rows, seed=seed)
    with engine.begin() as c:
        c.exec_driver_sql(f"DROP TABLE IF EXISTS {SCHEMA}.{table}")
        c.exec_driver_sql(f"CREATE TABLE {SCHEMA}.{table} "
                          "(LIKE features.customers INCLUDING ALL)")
    insert_frame(engine, f"{SCHEMA}.{table}", frame)
    with engine.begin() as c:
        c.exec_driver_sql(f"ANALYZE {SCHEMA}.{table}")
    reshape(engine, table)


def score_sql(query: str) -> str:
    return ("SELECT rows_scored FROM ml.score_churn(model_name => %s, input_query => %s)",
            (MODEL, query))


def score(raw, query: str) -> int:
    with raw.cursor() as cur:
        cur.execute(*score_sql(query))
        [rows] = cur.fetchone()
    raw.commit()
    return rows


def floor(raw, query: str, shaped: bool) -> None:
    """INSERT ... SELECT of the same rows, one float each, into a fresh table."""
    with raw.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {SCHEMA}.floor")
        if shaped:
            cur.execute(f"CREATE TABLE {SCHEMA}.floor "
                        "(LIKE predictions.churn_scores INCLUDING ALL)")
            insert = (f"INSERT INTO {SCHEMA}.floor (run_id, model_id, customer_id, "
                      f"churn_probability) SELECT 1, 1, customer_id, 0.5 FROM ({query}) AS q")
        else:
            cur.execute(f"CREATE TABLE {SCHEMA}.floor (customer_id text, "
                        "churn_probability double precision)")
            insert = f"INSERT INTO {SCHEMA}.floor SELECT customer_id, 0.5 FROM ({query}) AS q"
        raw.commit()
        start = time.perf_counter()
        cur.execute(insert)
        raw.commit()
        return time.perf_counter() - start


def client_side(raw, query: str, onnx_artifact: bytes, onnx_sha256: str) -> float:
    """What a team would write without in-database scoring: pull, score, write back."""
    from sqlml.kinds.churn import model as churn

    with raw.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {SCHEMA}.client_scores")
        cur.execute(f"CREATE TABLE {SCHEMA}.client_scores "
                    "(LIKE predictions.churn_scores INCLUDING ALL)")
        raw.commit()
        start = time.perf_counter()
        cur.execute(query)
        frame = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
        scores = churn.score(frame, onnx_artifact, onnx_sha256)
        with cur.copy(f"COPY {SCHEMA}.client_scores (run_id, model_id, customer_id, "
                      "churn_probability) FROM STDIN") as copy:
            for cid, p in zip(scores["customer_id"], scores["churn_probability"].tolist(),
                              strict=True):
                copy.write_row((1, 1, cid, p))
        raw.commit()
        return time.perf_counter() - start


def backend_peak_mb(raw) -> float:
    with raw.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        [pid] = cur.fetchone()
    raw.commit()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


_held = []  # the pool wrappers of open sessions: dropping one closes its connection


def new_session(sessions: sa.Engine):
    wrapper = sessions.raw_connection()
    _held.append(wrapper)
    return wrapper.driver_connection


def fresh_import(code: str) -> tuple[float, list[str]]:
    probe = (f"import sys, time; t = time.perf_counter(); {code}; "
             "d = time.perf_counter() - t; "
             f"print(d); print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    return float(out[0]), [m for m in out[1].split(",") if m]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--rows", type=int, default=200_000, help="batch scoring rows")
    parser.add_argument("--memory-rows", type=int, default=200_000,
                        help="rows for the backend memory figure (issue: 1000000)")
    parser.add_argument("--train-rows", type=int, default=20_000,
                        help="churn training rows (issue: 100000)")
    parser.add_argument("--train-options", default='{"epochs": 3, "patience": 3}',
                        help="ml.train_churn_model options; '{}' for the spec's defaults")
    parser.add_argument("--single", type=int, default=50, help="warm single-row calls")
    parser.add_argument("--cold", type=int, default=5, help="cold single-row calls")
    parser.add_argument("--repeat", type=int, default=3, help="batch repetitions (median)")
    parser.add_argument("--skip-deploy", action="store_true",
                        help="time what is deployed now (e.g. another build), not this tree")
    parser.add_argument("--forecaster", action="store_true",
                        help="also time forecaster training, 500 series x 120 months")
    parser.add_argument("--shape", choices=["customers", "telco"], default="customers",
                        help="the scored columns: the demo's, or the IBM telco set's shape "
                             "(15 text features)")
    parser.add_argument("--scale-rows", default="",
                        help="issue 27: score these sizes (e.g. 1000000,5000000), each with "
                             "the backend's peak memory above its warm peak and the time "
                             "(tests/benchmarks/bench_scale.py)")
    parser.add_argument("--scale-train-rows", type=int, default=0,
                        help="issue 27: the backend's peak memory training on this many rows")
    parser.add_argument("--scale-series", default="",
                        help="issue 27: train and forecast these numbers of series (e.g. "
                             "1000,10000), each with the time and the backend's peak memory "
                             "above its warm peak (tests/benchmarks/bench_series_scale.py)")
    args = parser.parse_args()
    SHAPE.update(name=args.shape,
                 columns=list(TELCO) if args.shape == "telco" else FEATURES)

    url = args.url or resolve_url()
    if not args.url:
        embedded_pg.start()
    if not args.skip_deploy:
        deploy(url, log=lambda message: None)
    engine = create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    print(f"# sqlml bench: {url.split('@')[-1]}")

    # --- import time (no database) -------------------------------------------------
    imports, heavy = [], []
    numpy_only = []
    for _ in range(args.repeat):
        seconds, loaded = fresh_import(IMPORT_SCORING)
        imports.append(seconds)
        heavy = loaded
        numpy_only.append(fresh_import("import numpy")[0])
    figure("import scoring path (fresh proc)", statistics.median(imports), "s",
           statistics.median(numpy_only), "import numpy", "< 0.4 s",
           heavy_modules=heavy)
    full, full_heavy = fresh_import("import sqlml.kinds.churn.model")
    figure("import DataFrame path (mssql)", full, "s", statistics.median(numpy_only),
           "import numpy", "no sklearn/TF", heavy_modules=full_heavy)

    # --- data and model -------------------------------------------------------------
    _, load_s = timed(lambda: load(engine, "customers", args.rows, seed=7))
    train_frame, _ = churn_data.customers(args.train_rows, seed=11)
    with engine.begin() as c:
        c.exec_driver_sql(f"DROP TABLE IF EXISTS {SCHEMA}.training")
        c.exec_driver_sql(f"CREATE TABLE {SCHEMA}.training "
                          "(LIKE features.customers INCLUDING ALL)")
    insert_frame(engine, f"{SCHEMA}.training", train_frame)
    reshape(engine, "training")
    if args.shape != "customers":  # in-process training gets the same rows, as read back
        with engine.connect() as c:
            train_frame = pd.read_sql(sa.text(f"SELECT * FROM {SCHEMA}.training"), c)
    print(f"# loaded {args.rows} scoring rows in {load_s:.1f} s, "
          f"{args.train_rows} training rows")

    options = args.train_options
    training_query = f"SELECT * FROM {SCHEMA}.training"
    with engine.begin() as c:
        _, train_db = timed(lambda: c.execute(sa.text(
            "SELECT * FROM ml.train_churn_model(model_name => :m, input_query => :q, "
            "options => :o, activate => true)"), {"m": MODEL, "q": training_query,
                                                   "o": options}).all())
        c.execute(sa.text("UPDATE models.registry SET status = 'retired' "
                          "WHERE model_name = :m AND status = 'active'"), {"m": MODEL})
        [model_id] = c.execute(sa.text(
            "SELECT max(model_id) FROM models.registry WHERE model_name = :m"),
            {"m": MODEL}).one()
        c.execute(sa.text("UPDATE models.registry SET status = 'active' "
                          "WHERE model_id = :i"), {"i": model_id})
        blob, sha = c.execute(sa.text("SELECT onnx_artifact, onnx_sha256 FROM models.registry "
                                      "WHERE model_id = :i"), {"i": model_id}).one()
    from sqlml.kinds.churn import model as churn
    from sqlml.paths import project_root
    spec = json.loads((project_root() / "models" / "churn.json").read_text())
    _, train_py = timed(lambda: churn.train(train_frame, spec, options))
    figure("train churn in-database", train_db, "s", train_py, "in-process",
           rows=args.train_rows, options=json.loads(options))

    # --- batch scoring vs the floor ------------------------------------------------
    query = query_for("customers")
    raw = new_session(engine)
    score(raw, query_for("customers", one_customer(1)))  # warm the session
    floors, shaped, scored, client = [], [], [], []
    for _ in range(args.repeat):
        floors.append(floor(raw, query, shaped=False))
        rows, seconds = timed(lambda: score(raw, query))
        scored.append(seconds)
        shaped.append(floor(raw, query, shaped=True))
        client.append(client_side(raw, query, bytes(blob), sha))
    assert rows == args.rows, rows
    score_s, floor_s = statistics.median(scored), statistics.median(floors)
    figure("batch score vs floor", score_s, "s", floor_s, "INSERT..SELECT plain table",
           "<= 4x", rows=args.rows, rows_per_s=round(args.rows / score_s))
    figure("batch score vs shaped floor", score_s, "s", statistics.median(shaped),
           "INSERT..SELECT like churn_scores", rows=args.rows)
    figure("client-side path vs in-database", statistics.median(client), "s", score_s,
           "ml.score_churn", "> 1x (in-db wins)", rows=args.rows)

    # --- single-row calls ----------------------------------------------------------
    floor(raw, query_for("customers", " WHERE false"), shaped=False)  # a plain floor table
    warm, one_floor = [], []
    for i in range(args.single):
        one = query_for("customers", one_customer(i + 1))
        warm.append(timed(lambda one=one: score(raw, one))[1])
        with raw.cursor() as cur:
            start = time.perf_counter()
            cur.execute(f"INSERT INTO {SCHEMA}.floor SELECT customer_id, 0.5 FROM ({one}) AS q")
            raw.commit()
            one_floor.append(time.perf_counter() - start)
    p50, p99 = np.percentile(warm, 50) * 1000, np.percentile(warm, 99) * 1000
    base50 = np.percentile(one_floor, 50) * 1000
    figure("single-row warm p50", p50, "ms", base50, "one-row INSERT..SELECT", "<= 10 ms",
           calls=args.single)
    figure("single-row warm p99", p99, "ms", np.percentile(one_floor, 99) * 1000,
           "one-row INSERT..SELECT", calls=args.single)
    raw.close()

    # No pool: every connection below is a new session, a new backend process.
    sessions = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    cold, connect = [], []
    one = query_for("customers", one_customer(7))
    for _ in range(args.cold):
        start = time.perf_counter()
        fresh = new_session(sessions)
        with fresh.cursor() as cur:
            cur.execute("SELECT 1")
        fresh.close()
        connect.append(time.perf_counter() - start)
        start = time.perf_counter()
        fresh = new_session(sessions)
        score(fresh, one)
        cold.append(time.perf_counter() - start)
        fresh.close()
    figure("single-row cold (new session)", statistics.median(cold) * 1000, "ms",
           statistics.median(connect) * 1000, "new session + SELECT 1", "< 600 ms",
           calls=args.cold)

    # --- backend memory ------------------------------------------------------------
    if args.memory_rows != args.rows:
        load(engine, "memory", args.memory_rows, seed=13)
        memory_query = query_for("memory")
    else:
        memory_query = query
    # Fresh backends: VmHWM is the process's lifetime peak.
    base_raw = new_session(sessions)
    floor(base_raw, memory_query, shaped=False)
    base_mb = backend_peak_mb(base_raw)
    base_raw.close()
    mem_raw = new_session(sessions)
    score(mem_raw, memory_query)
    peak_mb = backend_peak_mb(mem_raw)
    mem_raw.close()
    figure("backend peak memory, scoring", peak_mb, "MB", base_mb, "backend after the floor",
           "< 1536 MB at 1M rows", rows=args.memory_rows)
    # --- table scale (issue 27) ----------------------------------------------------
    if args.scale_rows or args.scale_train_rows:
        import bench_scale

        bench_scale.suite = sys.modules[__name__]  # its figures join this run's
        if args.scale_rows:
            bench_scale.scale_figures(engine, sessions,
                                      [int(n) for n in args.scale_rows.split(",")])
        if args.scale_train_rows:
            bench_scale.training_figure(engine, sessions, args.scale_train_rows,
                                        '{"epochs": 2, "ensemble_size": 1}')
    if args.scale_series:
        import bench_series_scale

        bench_series_scale.suite = sys.modules[__name__]  # its figures join this run's
        bench_series_scale.series_figures(engine, sessions,
                                          [int(n) for n in args.scale_series.split(",")], 120)
    engine.dispose()
    sessions.dispose()

    if args.forecaster:
        bench = Path(__file__).with_name("bench_forecaster.py")
        _, forecast_s = timed(lambda: subprocess.run(
            [sys.executable, str(bench), "--series", "500", "--months", "120"], check=True))
        figure("train forecaster 500x120", forecast_s, "s", 633.0,
               "issue 11's measurement (633 s)", "<= 180 s")

    print()
    for row in results:
        print("BENCH " + json.dumps(row, sort_keys=True))


if __name__ == "__main__":
    main()
