"""The churn classifier: input checks, training, scoring.

Training rows: ``customer_id`` (integer or text), ``churned`` (0/1) and any number
of feature columns (numeric, or text as categorical; NULLs allowed). Scoring rows:
the same without ``churned``. Column names are matched case-insensitively.

The network is wide-and-deep (see ``network``); every version also fits a
plain logistic regression on the same split and records its metrics as the
baseline, so a reader sees what the network adds.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from sqlml import artifacts
from sqlml.errors import InputError
from sqlml.kinds import TrainedModel
from sqlml.kinds.churn import scoring
from sqlml.kinds.churn.preprocessing import Preprocessor
from sqlml.kinds.columns import (
    as_numeric,
    normalise_columns,
    refuse_duplicates,
    refuse_infinite,
    text_ids,
)
from sqlml.kinds.training import Progress
from sqlml.specs import resolve_options

TRAINING = "churn training"
MAX_ID_LENGTH = 64
PARITY_TOLERANCE = 1e-5


def _require(frame: pd.DataFrame, column: str, what: str) -> None:
    if column not in frame.columns:
        shown = ", ".join(frame.columns[:20]) or "none"
        raise InputError(f"{what}: input has no {column!r} column (columns: {shown})")


def customer_ids(values: pd.Series, column: str) -> pd.Series:
    return text_ids(values, column, MAX_ID_LENGTH)


def labels(values: pd.Series, column: str) -> np.ndarray:
    if values.isna().any():
        raise InputError(f"column {column!r} has {int(values.isna().sum())} NULL label(s)")

    def as_int(v):
        if isinstance(v, bool | np.bool_):
            return int(v)
        if isinstance(v, str):
            v = v.strip()
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
        return int(f) if f in (0.0, 1.0) else None

    converted = values.astype(object).map(as_int)
    bad = values[converted.isna()]
    if not bad.empty:
        shown = ", ".join(repr(v) for v in pd.unique(bad.astype(object))[:3])
        raise InputError(f"column {column!r} must be 0 or 1; found {shown}")
    return converted.to_numpy(dtype=np.int64)


def _check_options(opts: dict) -> None:
    checks = {
        "epochs": opts["epochs"] >= 1,
        "batch_size": opts["batch_size"] >= 1,
        "hidden_units": len(opts["hidden_units"]) >= 1,
        "dropout": 0 <= opts["dropout"] < 1,
        "learning_rate": opts["learning_rate"] > 0,
        "validation_fraction": 0.05 <= opts["validation_fraction"] <= 0.5,
        "class_weight": opts["class_weight"] in ("balanced", "none"),
        "max_categories": opts["max_categories"] >= 1,
    }
    for name, ok in checks.items():
        if not ok:
            raise InputError(
                f"option {name!r} of {TRAINING} is out of range: {json.dumps(opts[name])} "
                "(epochs, batch_size >= 1; 0 <= dropout < 1; learning_rate > 0; "
                "0.05 <= validation_fraction <= 0.5; class_weight 'balanced' or 'none')"
            )


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, valid), each class split in the same proportion."""
    rng = np.random.default_rng(seed)
    train, valid = [], []
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == cls))
        n_valid = max(1, int(round(len(idx) * fraction)))
        valid.append(idx[:n_valid])
        train.append(idx[n_valid:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(valid))


def prepare_training(frame: pd.DataFrame, spec: dict) -> tuple[pd.DataFrame, np.ndarray]:
    id_col, label_col = spec["input"]["id_column"], spec["input"]["label_column"]
    frame = normalise_columns(frame)
    _require(frame, id_col, TRAINING)
    _require(frame, label_col, TRAINING)
    refuse_duplicates(customer_ids(frame[id_col], id_col), id_col, TRAINING,
                      "each customer must appear once in the training rows")
    y = labels(frame[label_col], label_col)
    limits = spec["limits"]
    if len(y) < limits["min_rows"]:
        raise InputError(
            f"{TRAINING}: {len(y)} training row(s) is too few; at least {limits['min_rows']} needed"
        )
    counts = np.bincount(y, minlength=2)
    if counts.min() == 0:
        only = int(np.argmax(counts))
        raise InputError(
            f"{TRAINING}: column {label_col!r} has only one class ({only}) in {len(y)} rows; "
            "a classifier needs churned and retained customers"
        )
    if counts.min() < limits["min_rows_per_class"]:
        raise InputError(
            f"{TRAINING}: column {label_col!r} has {counts.min()} row(s) of class "
            f"{int(np.argmin(counts))}; at least {limits['min_rows_per_class']} of each needed"
        )
    features = frame.drop(columns=[id_col, label_col])
    refuse_infinite(features, TRAINING)
    return features, y


def train(frame: pd.DataFrame, spec: dict, options: str | dict | None,
          progress: Progress = lambda message: None) -> TrainedModel:
    """Train one version: the two bundles and the registry row."""
    # scikit-learn and TensorFlow are for training only: scoring must not import them.
    from sqlml.kinds import drift
    from sqlml.kinds.churn import metrics, network

    started = time.perf_counter()
    opts = resolve_options(spec, options, TRAINING)
    _check_options(opts)
    features, y = prepare_training(frame, spec)
    train_idx, valid_idx = stratified_split(y, opts["validation_fraction"], opts["seed"])
    pre = Preprocessor.fit(features.iloc[train_idx], opts["max_categories"],
                           opts["min_category_count"])
    x = pre.transform(features)
    x_train, y_train, x_valid, y_valid = x[train_idx], y[train_idx], x[valid_idx], y[valid_idx]
    progress(f"{TRAINING}: {len(y)} rows ({len(train_idx)} train, {len(valid_idx)} valid), "
             f"{len(pre.columns)} features -> {pre.width} inputs, churn rate {y.mean():.3f}")

    baseline = network.logistic_regression(x_train, y_train, opts, balanced=False)
    p_baseline = baseline.predict_proba(x_valid)[:, 1]
    baseline_metrics = metrics.classification(y_valid, p_baseline)

    fitted = network.fit(x_train, y_train, x_valid, y_valid, opts, progress)
    p_valid = network.predict(fitted.model, x_valid)
    model_metrics = metrics.classification(y_valid, p_valid)
    model = fitted.model
    if opts["refit"]:
        pre = Preprocessor.fit(features, opts["max_categories"], opts["min_category_count"])
        x_valid = pre.transform(features.iloc[valid_idx])
        model = network.refit(pre.transform(features), y, opts, fitted.best_epoch,
                                    progress)

    preprocessing = {"features": pre.to_json(), "id_column": spec["input"]["id_column"]}
    keras_blob = artifacts.pack("churn", "model.keras", artifacts.keras_bytes(model),
                                preprocessing)
    onnx_model, parity = artifacts.onnx_bytes_checked(
        model, x_valid, network.predict(model, x_valid), PARITY_TOLERANCE)
    onnx_blob = artifacts.pack("churn", "model.onnx", onnx_model, preprocessing)

    all_metrics = {
        **model_metrics,
        "n_train": int(len(train_idx)),
        "n_valid": int(len(valid_idx)),
        "baseline_auc": baseline_metrics["auc"],
        "baseline": {"model": "logistic_regression", **baseline_metrics},
        "best_epoch": fitted.best_epoch,
        "epochs_run": fitted.epochs_run,
        "refit_on_all_rows": bool(opts["refit"]),
        "onnx_max_abs_diff": parity,
        "curves": metrics.curves(y_valid, {"model": p_valid, "logistic_regression": p_baseline}),
    }
    progress(f"{TRAINING}: validation AUC {model_metrics['auc']:.4f} "
             f"(logistic regression {baseline_metrics['auc']:.4f})")
    return TrainedModel.build(
        keras_blob=keras_blob, onnx_blob=onnx_blob, spec=spec, options=opts,
        metrics=all_metrics,
        feature_schema={
            "id_column": spec["input"]["id_column"],
            "label_column": spec["input"]["label_column"],
            "numeric": [c.name for c in pre.numeric],
            "categorical": {c.name: c.vocabulary for c in pre.categorical},
            "inputs": pre.output_names(),
            "profile": drift.feature_profile(features, [c.name for c in pre.numeric],
                                             [c.name for c in pre.categorical]),
        },
        trained_rows=len(y), started=started, device=fitted.device,
    )


def score(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str) -> pd.DataFrame:
    """Churn probability for every input row, from the ONNX bundle (no TensorFlow).
    The work is ``scoring.score_columns``'s; this is its DataFrame face."""
    model = scoring.scorer(onnx_artifact, onnx_sha256)
    frame = normalise_columns(frame)
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if name == model.id_column:
            columns[name] = values.astype(object).where(values.notna(), None).to_numpy()
        elif (pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values)
              or pd.api.types.is_datetime64_any_dtype(values)):
            columns[name] = as_numeric(values, name, strict=True).to_numpy()
        else:
            columns[name] = values.to_numpy(dtype=object)
    ids, probability = scoring.score_columns(columns, len(frame), model)
    return pd.DataFrame({"customer_id": np.asarray(ids, dtype=object),
                         "churn_probability": probability})
