"""Table scale (issue 27): time and the backend's peak memory of one ``ml.score_churn``
call over 1 and 5 million rows, and of training on 1 million.

    .venv/bin/python tests/benchmarks/bench_scale.py [--rows 1000000,5000000]
        [--shape telco] [--train-rows 1000000] [--url URL] [--skip-deploy]

``make bench`` runs it through ``bench_suite.py --scale-rows ...``. How a backend's
peak is measured: each size is scored in a fresh session, whose backend first
scores 1,000 rows (the warm peak: Python, NumPy, ONNX Runtime and the model loaded,
read from ``/proc/<pg_backend_pid()>/status``, VmHWM), then the whole table; the
figure is VmHWM after the call minus the warm peak, beside the time. The bigger
sizes are the smaller table copied with new ids, so every size scores the same
rows' shape. The server must run on this host (``/proc`` is read).
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

WARM_ROWS = 1_000
TRAINING_TABLE = "scale_training"


def peak_mb(raw) -> float:
    return suite.backend_peak_mb(raw)


def resident_mb(raw) -> dict:
    """The backend's resident memory now, by kind: RssAnon is its own (Python, NumPy,
    the batch); RssShmem the shared buffers it has touched, which RSS and VmHWM count
    too and which shared_buffers bounds, whatever the table."""
    with raw.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        [pid] = cur.fetchone()
    raw.commit()
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssShmem"):
            out[key.lower() + "_mb"] = round(int(value.split()[0]) / 1024, 1)
    return out


def make_tables(engine: sa.Engine, sizes: list[int]) -> dict[int, str]:
    """One table per size in the bench's shape: the smallest generated, the others
    copies of it with ids moved past the ones before."""
    smallest = min(sizes)
    raw = f"{suite.SCHEMA}.scale_raw"
    frame, _ = suite.churn_data.customers(smallest, seed=27)
    with engine.begin() as c:
        c.exec_driver_sql(f"DROP TABLE IF EXISTS {raw}")
        c.exec_driver_sql(f"CREATE TABLE {raw} (LIKE features.customers INCLUDING ALL)")
    suite.insert_frame(engine, raw, frame)
    others = [c for c in frame.columns if c != "customer_id"]
    tables = {}
    for size in sorted(sizes):
        name = f"scale_{size}"
        copies = -(-size // smallest)
        with engine.begin() as c:
            c.exec_driver_sql(f"DROP TABLE IF EXISTS {suite.SCHEMA}.{name}")
            c.exec_driver_sql(
                f"CREATE TABLE {suite.SCHEMA}.{name} AS SELECT r.customer_id + k * {smallest}"
                f" AS customer_id, {', '.join(f'r.{c}' for c in others)}"
                f" FROM generate_series(0, {copies - 1}) AS k, {raw} AS r"
                f" ORDER BY 1 LIMIT {size}")
            c.exec_driver_sql(f"ALTER TABLE {suite.SCHEMA}.{name} ADD PRIMARY KEY (customer_id)")
            c.exec_driver_sql(f"ANALYZE {suite.SCHEMA}.{name}")
        suite.reshape(engine, name)
        tables[size] = name
    return tables


def score_at_scale(sessions: sa.Engine, table: str, rows: int) -> dict:
    """One fresh session: its warm peak, then one call over ``table``."""
    raw = suite.new_session(sessions)
    query = suite.query_for(table)
    suite.score(raw, f"{query} LIMIT {WARM_ROWS}")
    warm, warm_resident = peak_mb(raw), resident_mb(raw)
    start = time.perf_counter()
    scored = suite.score(raw, query)
    seconds = time.perf_counter() - start
    peak, resident = peak_mb(raw), resident_mb(raw)
    raw.close()
    assert scored == rows, (scored, rows)
    return {"rows": rows, "seconds": seconds, "warm_mb": warm, "peak_mb": peak,
            "delta_mb": peak - warm, "warm": warm_resident, "after": resident}


def scale_figures(engine: sa.Engine, sessions: sa.Engine, sizes: list[int]) -> list[dict]:
    """Scoring at each size, in one script: time and memory beside the smallest's."""
    tables = make_tables(engine, sizes)
    out = [score_at_scale(sessions, tables[size], size) for size in sorted(sizes)]
    first = out[0]
    for row in out:
        suite.figure(f"score {row['rows']:,} rows, time", row["seconds"], "s",
                     first["seconds"], f"{first['rows']:,} rows",
                     f"<= {row['rows'] / first['rows'] * 1.2:.1f}x", rows=row["rows"])
        suite.figure(f"score {row['rows']:,} rows, memory", row["delta_mb"], "MB",
                     row["warm_mb"], "warm peak (VmHWM)", "<= 512 MB above warm",
                     rows=row["rows"], peak_mb=round(row["peak_mb"], 1),
                     resident_warm=row["warm"], resident_after=row["after"])
    return out


def training_figure(engine: sa.Engine, sessions: sa.Engine, rows: int, options: str) -> None:
    """Training on ``rows`` rows in a fresh session: its time and VmHWM, beside the
    warm peak of the same backend after a scoring call."""
    suite.load(engine, TRAINING_TABLE, rows, seed=31)
    raw = suite.new_session(sessions)
    warm = peak_mb(raw)
    start = time.perf_counter()
    with raw.cursor() as cur:
        cur.execute("SELECT metrics FROM ml.train_churn_model(model_name => %s,"
                    " input_query => %s, options => %s, activate => false)",
                    ("scale_training", f"SELECT * FROM {suite.SCHEMA}.{TRAINING_TABLE}",
                     options))
        [metrics] = cur.fetchone()
    raw.commit()
    seconds = time.perf_counter() - start
    peak = peak_mb(raw)
    raw.close()
    metrics = json.loads(metrics) if isinstance(metrics, str) else metrics
    suite.figure(f"train {rows:,} rows, memory", peak - warm, "MB", warm,
                 "backend before training (VmHWM)", "bounded by the sample",
                 rows=rows, seconds=round(seconds, 1), peak_mb=round(peak, 1),
                 n_train=metrics.get("n_train"), sample=metrics.get("sample"))


def prepare(url: str | None, skip_deploy: bool) -> tuple[sa.Engine, sa.Engine]:
    """Deploy (unless told not to), and train the bench's model on a few rows when it
    has no active version; the engine, and one that opens a fresh backend per session."""
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
        active = c.execute(sa.text("SELECT count(*) FROM models.registry WHERE model_name = :m"
                                   " AND status = 'active'"), {"m": suite.MODEL}).scalar()
    if not active:
        suite.load(engine, "scale_model", 20_000, seed=11)
        with engine.begin() as c:
            c.execute(sa.text(
                "SELECT * FROM ml.train_churn_model(model_name => :m, input_query => :q,"
                " options => :o, activate => true)"),
                {"m": suite.MODEL, "q": f"SELECT * FROM {suite.SCHEMA}.scale_model",
                 "o": '{"epochs": 2, "patience": 2}'}).all()
    return engine, sa.create_engine(engine.url, poolclass=sa.pool.NullPool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--rows", default="1000000,5000000",
                        help="scoring sizes, comma-separated")
    parser.add_argument("--train-rows", type=int, default=0,
                        help="also train on this many rows (issue 27: 1000000)")
    parser.add_argument("--train-options", default='{"epochs": 2, "ensemble_size": 1}',
                        help="training options of the --train-rows figure")
    parser.add_argument("--shape", choices=["customers", "telco"], default="telco")
    parser.add_argument("--skip-deploy", action="store_true")
    args = parser.parse_args()
    suite.SHAPE.update(name=args.shape,
                       columns=list(suite.TELCO) if args.shape == "telco" else suite.FEATURES)
    engine, sessions = prepare(args.url, args.skip_deploy)
    if args.rows:  # "" : training only
        scale_figures(engine, sessions, [int(n) for n in args.rows.split(",")])
    if args.train_rows:
        training_figure(engine, sessions, args.train_rows, args.train_options)
    print()
    for row in suite.results:
        print("BENCH " + json.dumps(row, sort_keys=True))


if __name__ == "__main__":
    main()
