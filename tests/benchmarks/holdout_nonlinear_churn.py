"""Hold-out comparison of churn model candidates with gradient boosting and logistic regression.

    .venv/bin/python tests/benchmarks/holdout_nonlinear_churn.py \
        [--data calls|telco|CSV] [--rows 4000] [--seed 13] [--candidates NAME,...]

``calls`` (default) is ``sqlml.demo.churn_calls_data``: churn from thresholds and
interactions (charges, service calls, an international plan), where gradient
boosting clearly beats logistic regression. ``telco`` is ``sqlml.demo.churn_data``,
nearly linear. A CSV needs ``customer_id``, a 0/1 ``churned`` and feature columns.

A seeded quarter of the customers is held back; each candidate (a set of options
of ``ml.train_churn_model``) is trained in-process on the rest exactly as the
procedure trains it (``churn.train``: validation split, early stopping, refit on
all training rows, ONNX export with parity) and scored through its ONNX bundle
(``churn.score``). Beside each: its validation AUC (the registry's ``auc``), the
registry's ``baseline_auc`` and ``gbm_auc`` on the same validation split, and on
the hold-out a scikit-learn logistic regression and a histogram gradient
boosting fitted on the same training rows.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

# The logistic-regression reference of the other hold-out check (a sibling script).
from holdout_churn import baseline_auc
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from sqlml.demo import churn_calls_data, churn_data
from sqlml.kinds.churn import model as churn
from sqlml.paths import project_root

CANDIDATES = {
    # today's model before issue 13: scaled numbers, one network, patience 6
    "standard": {"numeric_bins": 0, "ensemble_size": 1, "patience": 6, "booster": "none"},
    "ple16": {"numeric_bins": 16, "ensemble_size": 1, "booster": "none"},
    "ple16x3": {"numeric_bins": 16, "ensemble_size": 3, "booster": "none"},
    "ple16x3+gbm": {},  # the defaults of models/churn.json
}


def data(name: str, rows: int, seed: int) -> pd.DataFrame:
    if name == "calls":
        return churn_calls_data.customers(rows, seed)[0]
    if name == "telco":
        return churn_data.customers(rows, seed)[0]
    return pd.read_csv(name)


def references(train: pd.DataFrame, test: pd.DataFrame) -> tuple[float, float]:
    """Hold-out AUC of logistic regression and gradient boosting fitted on ``train``."""
    x_train, x_test = (f.drop(columns=["customer_id", "churned"]) for f in (train, test))
    as_cat = {c: "category" for c in x_train.columns
              if not pd.api.types.is_numeric_dtype(x_train[c])}
    gbm = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0).fit(
        x_train.astype(as_cat), train["churned"])
    return (baseline_auc(train, test),
            roc_auc_score(test["churned"], gbm.predict_proba(x_test.astype(as_cat))[:, 1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="calls")
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--options", default="{}", help="JSON options added to every candidate")
    args = parser.parse_args()
    spec = json.loads((project_root() / "models" / "churn.json").read_text())
    frame = data(args.data, args.rows, args.seed)
    held = np.random.default_rng(100).random(len(frame)) < 0.25
    train, test = frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)
    lr_auc, gbm_auc = references(train, test)
    print(f"data {args.data}: {len(train)} training rows, {len(test)} held out, churn rate "
          f"{frame['churned'].mean():.3f}; hold-out: logistic regression {lr_auc:.4f}, "
          f"gradient boosting {gbm_auc:.4f}")
    print(f"{'candidate':<10} {'valid':>7} {'v_lr':>7} {'v_gbm':>7} {'holdout':>8} "
          f"{'h_lr':>7} {'h_gbm':>7} {'seconds':>8}")
    for name in args.candidates.split(","):
        options = {**CANDIDATES[name], **json.loads(args.options)}
        started = time.perf_counter()
        trained = churn.train(train, spec, options)
        seconds = time.perf_counter() - started
        scores = churn.score(test.drop(columns=["churned"]), trained.onnx_artifact,
                             trained.registration["onnx_sha256"])
        m = trained.registration["metrics"]
        holdout = roc_auc_score(test["churned"], scores["churn_probability"])
        print(f"{name:<10} {m['auc']:7.4f} {m['baseline_auc']:7.4f} {m['gbm_auc']:7.4f} "
              f"{holdout:8.4f} {lr_auc:7.4f} {gbm_auc:7.4f} {seconds:8.1f}", flush=True)


if __name__ == "__main__":
    main()
