"""Benchmark: churn training and scoring inside the database (not part of make test).

    .venv/bin/python tests/benchmarks/bench_churn.py [--rows 100000] [--url URL]

Loads N synthetic customers, then times, in one script:
  * in-process baseline: churn.train / churn.score on the same DataFrame,
    no database at all;
  * in-database: ml.train_churn_model and ml.score_churn through SQL.
and reports the in-database figures as ratios of the in-process ones, since
absolute seconds on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import time

from sqlml import embedded_pg, routines
from sqlml.connect import create_engine, resolve_url
from sqlml.demo import churn_data
from sqlml.demo.bulk import insert_frame
from sqlml.deploy import deploy
from sqlml.kinds.churn import model as churn
from sqlml.paths import project_root

OPTIONS = {"epochs": 10, "patience": 10}


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--url")
    args = parser.parse_args()

    url = args.url or resolve_url()
    if not args.url:
        embedded_pg.start()
    deploy(url, log=lambda message: None)
    engine = create_engine(url)
    spec = json.loads((project_root() / "models" / "churn.json").read_text())
    frame, _ = churn_data.customers(args.rows, seed=7)
    _, load_s = timed(lambda: insert_frame(engine, "features.customers", frame))

    trained, train_py = timed(lambda: churn.train(frame, spec, OPTIONS))
    reg = trained.registration
    scoring = frame.drop(columns=["churned"])
    _, score_py = timed(lambda: churn.score(scoring, trained.onnx_artifact, reg["onnx_sha256"]))

    _, train_db = timed(lambda: routines.call(engine, "train_churn_model", model_name="bench",
                                              options=json.dumps(OPTIONS)))
    # First call in a session pays the imports; the second is the steady state.
    _, score_db_cold = timed(lambda: routines.call(engine, "score_churn", model_name="bench"))
    _, score_db = timed(lambda: routines.call(engine, "score_churn", model_name="bench"))
    engine.dispose()

    n = args.rows
    print(f"rows: {n}; device: {reg['device']}; epochs: {OPTIONS['epochs']}")
    print(f"bulk load (COPY):            {load_s:7.2f} s  ({n / load_s:,.0f} rows/s)")
    print(f"train in-process:            {train_py:7.2f} s")
    ratio = train_db / train_py
    print(f"train in-database:           {train_db:7.2f} s  ({ratio:.2f}x in-process)")
    print(f"score in-process:            {score_py:7.2f} s  ({n / score_py:,.0f} rows/s)")
    print(f"score in-database, 1st call: {score_db_cold:7.2f} s")
    print(f"score in-database:           {score_db:7.2f} s  ({n / score_db:,.0f} rows/s, "
          f"{score_db / score_py:.2f}x in-process)")


if __name__ == "__main__":
    main()
