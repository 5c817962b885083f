"""Benchmark: churn scoring on Spark ``local[1]`` and ``local[2]`` beside in-database
scoring of the same rows (not part of make test).

    .venv/bin/python tests/benchmarks/bench_spark.py [--rows 200000] [--url URL]
    .venv/bin/python tests/benchmarks/bench_spark.py --rows 5000000   # the issue's size

Loads N synthetic customers into a deployed database (a scratch database of the
embedded engine unless --url), trains a churn version through
ml.train_churn_model on the first 5,000 customers (training is not what is
measured), then times, on the same N rows and the same version:

  * in-database: ml.score_churn, the second call (the first pays the imports);
    one PostgreSQL backend, so one core;
  * Spark local[1] and local[2]: sqlml.spark.score end to end (JDBC read in
    partitions of customer_id, mapInPandas through the entry point, JDBC append to
    the stage, ml.spark_publish), a warm-up run first, then the timed one.

Every run is checked to be succeeded with N rows in and out. Rows/s are end to end,
writes included, as a user waits for them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from sqlml import embedded_pg, routines
from sqlml.connect import create_engine
from sqlml.demo import churn_data
from sqlml.demo.bulk import insert_frame
from sqlml.deploy import deploy

OPTIONS = {"epochs": 5, "hidden_units": [32], "patience": 3}
TRAIN_QUERY = "SELECT * FROM features.churn_features WHERE customer_id <= 5000"
QUERY = "SELECT * FROM features.churn_features"


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def scratch_url() -> str:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from conftest import create_scratch_database

    return create_scratch_database(embedded_pg.start(), "sqlml_bench_spark")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--url", help="a database to use (default: a new scratch database)")
    parser.add_argument("--cores", default="1,2", help="local[N] masters to measure")
    args = parser.parse_args()

    from sqlml import spark as sqlml_spark

    url = args.url or scratch_url()
    deploy(url, log=lambda message: None)
    engine = create_engine(url)
    frame, _ = churn_data.customers(args.rows, seed=7)
    with engine.begin() as connection:
        connection.exec_driver_sql("TRUNCATE features.customers")
    _, load_s = timed(lambda: insert_frame(engine, "features.customers", frame))
    routines.call(engine, "train_churn_model", model_name="bench_spark",
                  input_query=TRAIN_QUERY, options=json.dumps(OPTIONS))
    routines.call(engine, "score_churn", model_name="bench_spark")
    in_db, score_db = timed(lambda: routines.call(engine, "score_churn",
                                                  model_name="bench_spark"))
    engine.dispose()

    n = args.rows
    results = [("in-database ml.score_churn (1 backend)", score_db)]
    found = sqlml_spark.target(url)
    for cores in (int(c) for c in args.cores.split(",")):
        session = sqlml_spark.local_session(found, master=f"local[{cores}]", extra={
            "spark.sql.execution.arrow.maxRecordsPerBatch": "50000",
            "spark.driver.memory": "4g",
        })
        partitioning = sqlml_spark.Partitioning("customer_id", partitions=2 * cores)
        sqlml_spark.score(session, url, "bench_spark", QUERY, partitioning=partitioning)
        run, seconds = timed(lambda partitioning=partitioning, session=session:
                             sqlml_spark.score(session, url, "bench_spark", QUERY,
                                               partitioning=partitioning))
        assert (run.rows_in, run.rows_out) == (n, n), run
        results.append((f"Spark local[{cores}] sqlml.spark.score", seconds))
        results.append(("  of which ml.spark_publish (serial)", run.publish_seconds))
        session.stop()

    print(f"rows: {n:,}; bulk load {load_s:.1f} s; cores on this host: {os.cpu_count()}")
    print(f"{'':44s} {'seconds':>8s} {'rows/s':>10s}")
    for label, seconds in results:
        print(f"{label:44s} {seconds:8.2f} {n / seconds:10,.0f}")
    print(f"in-database run: {in_db[0]}")


if __name__ == "__main__":
    main()
