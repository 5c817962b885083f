"""Benchmark: ml.predict of an imported scikit-learn pipeline beside ml.score_churn, on
the same rows (not part of make test).

    .venv/bin/python tests/benchmarks/bench_predict.py [--rows 100000] [--url URL]

Loads N synthetic customers (features.churn_features), trains the churn model briefly
through ml.train_churn_model, fits a scikit-learn pipeline on the same columns (one-hot
text, scaled numbers, logistic regression) and imports it with ml.import_model; then
times a steady-state call of each routine (the second in a session) on every row, and
ml.predict's in-process floor (the same columns scored by the entry point, no database).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import sqlalchemy as sa

from sqlml import embedded_pg, entrypoints, routines
from sqlml.connect import create_engine, resolve_url
from sqlml.demo import churn_data
from sqlml.demo.bulk import insert_frame
from sqlml.deploy import deploy

CHURN = {"epochs": 2, "ensemble_size": 1, "booster": "none", "patience": 1}
QUERY = "SELECT * FROM features.churn_features"


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def pipeline_onnx(frame: pd.DataFrame) -> tuple[bytes, list[str]]:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = frame.drop(columns=["customer_id", "churned"])
    text = [c for c in features if not pd.api.types.is_numeric_dtype(features[c])
            or pd.api.types.is_bool_dtype(features[c])]
    numeric = [c for c in features if c not in text]
    x = features.copy()
    x[text] = x[text].astype(str)
    x[numeric] = x[numeric].astype(np.float32)
    model = Pipeline([
        ("columns", ColumnTransformer([
            ("text", OneHotEncoder(handle_unknown="ignore"), text),
            ("numeric", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]),
             numeric)])),
        ("classifier", LogisticRegression(max_iter=300)),
    ]).fit(x, frame["churned"])
    types = [(c, StringTensorType([None, 1])) for c in text] + [
        (c, FloatTensorType([None, 1])) for c in numeric]
    onx = to_onnx(model, initial_types=types, target_opset={"": 17, "ai.onnx.ml": 3})
    return onx.SerializeToString(), text


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
    frame, _ = churn_data.customers(args.rows, seed=7)
    insert_frame(engine, "features.customers", frame)
    with engine.connect() as connection:
        view = pd.read_sql(sa.text(QUERY), connection)
    blob, text = pipeline_onnx(view)
    # Text columns as text in the query, as the graph takes them (booleans included).
    casts = ", ".join(f"{c}::text AS {c}" if c in text else c for c in view.columns
                      if c != "churned")
    predict_query = f"SELECT {casts} FROM features.churn_features"

    routines.call(engine, "train_churn_model", model_name="bench", options=json.dumps(CHURN))
    [imported] = routines.call(engine, "import_model", model_name="bench_onnx", model=blob,
                               options=json.dumps({"id_column": "customer_id"}))
    with engine.connect() as connection:
        schema, onnx_artifact, sha = connection.execute(sa.text(
            "SELECT feature_schema, onnx_artifact, onnx_sha256 FROM models.registry "
            "WHERE model_id = :m"), {"m": imported["model_id"]}).one()
        rows = pd.read_sql(sa.text(predict_query), connection)
    columns, n = entrypoints.frame_columns(rows, exact="customer_id")
    entrypoints.predict_columns(columns, n, bytes(onnx_artifact), sha, schema)  # the session
    _, floor = timed(lambda: entrypoints.predict_columns(columns, n, bytes(onnx_artifact),
                                                         sha, schema))
    for _ in range(2):  # the second call of each is the steady state
        _, churn_s = timed(lambda: routines.call(engine, "score_churn", model_name="bench"))
        _, predict_s = timed(lambda: routines.call(engine, "predict", model_name="bench_onnx",
                                                   input_query=predict_query))
    engine.dispose()
    print(f"rows: {n}; pipeline: {len(text)} text + {len(columns) - len(text) - 1} numeric "
          "columns, logistic regression (skl2onnx)")
    print(f"ml.predict in-process floor:  {floor:7.2f} s  ({n / floor:,.0f} rows/s)")
    print(f"ml.predict in-database:       {predict_s:7.2f} s  ({n / predict_s:,.0f} rows/s)")
    print(f"ml.score_churn in-database:   {churn_s:7.2f} s  ({n / churn_s:,.0f} rows/s)")
    print(f"ml.predict / ml.score_churn:  {predict_s / churn_s:7.2f}x")


if __name__ == "__main__":
    main()
