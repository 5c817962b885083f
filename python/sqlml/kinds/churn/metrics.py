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
