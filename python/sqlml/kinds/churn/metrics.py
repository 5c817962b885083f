"""Validation metrics for the churn classifier."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

EPS = 1e-7


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability cut that maximises F1 on validation: a starting point for
    whoever turns scores into a contact list, recorded with the model."""
    precision, recall, thresholds = skm.precision_recall_curve(y, p)
    f1 = 2 * precision * recall / np.maximum(precision + recall, EPS)
    return float(thresholds[int(np.argmax(f1[:-1]))]) if len(thresholds) else 0.5


def classification(y: np.ndarray, p: np.ndarray, threshold: float | None = None) -> dict:
    y = np.asarray(y, dtype=np.int64)
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    threshold = best_f1_threshold(y, p) if threshold is None else threshold
    return {
        "auc": float(skm.roc_auc_score(y, p)),
        "pr_auc": float(skm.average_precision_score(y, p)),
        "log_loss": float(skm.log_loss(y, p, labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y, p)),
        "accuracy": float(skm.accuracy_score(y, p >= threshold)),
        "threshold": float(threshold),
    }


CURVE_POINTS = 50
CALIBRATION_BINS = 10


def curves(y: np.ndarray, scores: dict[str, np.ndarray]) -> dict:
    """What the report draws, stored with the version so it needs no model and no
    data: per model (the network, its baselines) the ROC curve thinned to about
    ``CURVE_POINTS`` points and a calibration table over ``CALIBRATION_BINS`` equal
    probability bins (mean predicted, observed churn rate, rows), on the
    validation rows."""
    y = np.asarray(y, dtype=np.int64)
    out = {"n": int(len(y)), "positives": int(y.sum()), "models": {}}
    for name, p in scores.items():
        p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
        fpr, tpr, _ = skm.roc_curve(y, p, drop_intermediate=True)
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), CURVE_POINTS)).astype(int))
        bins = np.minimum((p * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
        calibration = [
            {"predicted": round(float(p[bins == b].mean()), 5),
             "observed": round(float(y[bins == b].mean()), 5), "rows": int((bins == b).sum())}
            for b in range(CALIBRATION_BINS) if (bins == b).any()
        ]
        out["models"][name] = {
            "auc": float(skm.roc_auc_score(y, p)),
            "roc": {"fpr": [round(float(v), 5) for v in fpr[keep]],
                    "tpr": [round(float(v), 5) for v in tpr[keep]]},
            "calibration": calibration,
        }
    return out
