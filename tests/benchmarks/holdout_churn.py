"""Hold-out check of the churn model on your own customer table, through the SQL interface.

    .venv/bin/python tests/benchmarks/holdout_churn.py CUSTOMERS.csv \
        [--id customerID] [--label Churn] [--positive Yes] [--url URL]

The CSV needs an id column, a 0/1 (or yes/no) label column and feature columns.
A random quarter of the customers is held back (seeded); the rest are loaded
into a scratch table and the model is trained and scored as a user would:

    SELECT * FROM ml.train_churn_model(model_name => ..., input_query => ...);
    SELECT * FROM ml.score_churn(model_name => ..., input_query => ...);

AUC on the held-back customers is computed from predictions.churn_scores, beside a
scikit-learn logistic regression (one-hot + scaling) fitted on the same split.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sqlml import routines
from sqlml.connect import create_engine, resolve_url
from sqlml.deploy import deploy

MODEL = "holdout_churn"
TABLE = "holdout_customers"


def load(path: str, id_col: str, label: str, positive: str) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame = frame.rename(columns={id_col: "customer_id", label: "churned"})
    if not pd.api.types.is_numeric_dtype(frame["churned"]):
        frame["churned"] = (frame["churned"].astype(str).str.strip() == positive).astype(int)
    for column in frame.columns:  # text columns that are numbers with blanks (TotalCharges)
        if not pd.api.types.is_numeric_dtype(frame[column]) and column != "customer_id":
            numbers = pd.to_numeric(frame[column].str.strip().replace("", np.nan), errors="coerce")
            if numbers.notna().sum() >= 0.95 * frame[column].str.strip().ne("").sum():
                frame[column] = numbers
    return frame


def baseline_auc(train: pd.DataFrame, test: pd.DataFrame) -> float:
    features = train.drop(columns=["customer_id", "churned"])
    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    text = [c for c in features.columns if c not in numeric]
    model = make_pipeline(
        ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), text),
        ]),
        LogisticRegression(max_iter=2000),
    ).fit(features, train["churned"])
    return roc_auc_score(test["churned"],
                         model.predict_proba(test.drop(columns=["customer_id", "churned"]))[:, 1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("--id", default="customerID")
    parser.add_argument("--label", default="Churn")
    parser.add_argument("--positive", default="Yes")
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--url")
    args = parser.parse_args()
    url = resolve_url(args.url)
    deploy(url, log=lambda message: None)
    engine = create_engine(url)

    frame = load(args.csv, args.id, args.label, args.positive)
    held = np.random.default_rng(args.seed).random(len(frame)) < 0.25
    train, test = frame[~held], frame[held]
    frame.to_sql(TABLE, engine, if_exists="replace", index=False)
    held_ids = "', '".join(test["customer_id"].astype(str))
    train_query = f"SELECT * FROM {TABLE} WHERE customer_id NOT IN ('{held_ids}')"
    score_query = f"SELECT * FROM {TABLE} WHERE customer_id IN ('{held_ids}')"

    [trained] = routines.call(engine, "train_churn_model", model_name=MODEL,
                              input_query=train_query)
    # Score with this version even if an earlier run left a better one active.
    routines.call(engine, "activate_model", model_name=MODEL, version=trained["version"])
    [run] = routines.call(engine, "score_churn", model_name=MODEL, input_query=score_query)
    with engine.connect() as connection:
        scores = pd.read_sql(sa.text("SELECT customer_id, churn_probability FROM "
                                     "predictions.churn_scores WHERE run_id = :run"),
                             connection, params={"run": run["run_id"]})
        connection.exec_driver_sql(f"DROP TABLE {TABLE}")
        connection.commit()
    engine.dispose()
    joined = test.assign(customer_id=test["customer_id"].astype(str)).merge(
        scores, on="customer_id")
    print(f"{len(train)} training customers, {len(joined)} held back and scored "
          f"(model version {trained['version']})")
    print(f"held-out AUC {roc_auc_score(joined['churned'], joined['churn_probability']):.4f}  "
          f"logistic regression {baseline_auc(train, test):.4f}")


if __name__ == "__main__":
    main()
