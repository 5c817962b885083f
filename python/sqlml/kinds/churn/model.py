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
from sqlml.kinds.churn import booster, scoring
from sqlml.kinds.churn import explain as explainer
from sqlml.kinds.churn.explain import explain  # noqa: F401  (the kind's explain, beside score)
from sqlml.kinds.churn.preprocessing import Preprocessor
from sqlml.kinds.columns import (
    normalise_columns,
    refuse_duplicates,
    refuse_infinite,
    refuse_unsupported,
    text_ids,
)
from sqlml.kinds.training import Progress, check_watch
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
        "numeric_bins": opts["numeric_bins"] <= 256,
        "ensemble_size": 1 <= opts["ensemble_size"] <= 16,
        "booster": opts["booster"] in ("auto", "none"),
    }
    for name, ok in checks.items():
        if not ok:
            raise InputError(
                f"option {name!r} of {TRAINING} is out of range: {json.dumps(opts[name])} "
                "(epochs, batch_size >= 1; 0 <= dropout < 1; learning_rate > 0; "
                "0.05 <= validation_fraction <= 0.5; class_weight 'balanced' or 'none'; "
                "numeric_bins <= 256; 1 <= ensemble_size <= 16; booster 'auto' or 'none')"
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
    refuse_unsupported(frame, TRAINING)
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


def roc_auc_score(y, p) -> float:
    from sklearn.metrics import roc_auc_score as auc  # training only, like all of sklearn

    return float(auc(y, p))


def _choose_blend(trees: dict, y_valid, p_trees, p_network, opts: dict,
                  progress: Progress) -> dict:
    """Whether the gradient-boosted member (``trees``, the baseline's model) joins the
    network, and with what weight: the blend's AUC on the validation rows decides,
    and the network keeps at least half of the vote."""
    network_auc = float(roc_auc_score(y_valid, p_network))
    trees_auc = float(roc_auc_score(y_valid, p_trees))
    if opts["booster"] == "none":
        return {"network_weight": 1.0, "trees_valid_auc": trees_auc,
                "reason": "option booster = 'none'"}
    blends = {w: float(roc_auc_score(y_valid, booster.blend(w, p_network, p_trees)))
              for w in booster.BLEND_WEIGHTS}
    best = max(blends, key=lambda w: (blends[w], w))
    # As for the deep part: a gain below min_auc_gain is validation noise, and on
    # nearly linear churn the network alone is what generalises.
    if blends[best] < network_auc + opts["min_auc_gain"]:
        best = 1.0
    reason = (f"network alone: validation AUC {network_auc:.4f}; no blend with the "
              f"gradient-boosted member (alone {trees_auc:.4f}) gained min_auc_gain "
              f"({opts['min_auc_gain']})"
              if best == 1.0 else
              f"blend {best:.2f} network + {1 - best:.2f} gradient-boosted member: "
              f"validation AUC {blends[best]:.4f} against {network_auc:.4f} for the network "
              f"alone ({trees_auc:.4f} for the trees alone)")
    progress(f"{TRAINING}: {reason}")
    return {"network_weight": best, "trees_valid_auc": trees_auc,
            "n_trees": len(trees["trees"]),
            "blend_valid_auc": {f"{w:.2f}": a for w, a in blends.items()}, "reason": reason}


def _trees(pre: Preprocessor, features: pd.DataFrame, rows, y, seed: int) -> dict:
    """Gradient boosting on the plain columns (splits on a bin column would only repeat
    splits on its number), its feature indices moved to the network's matrix."""
    plain = pre.without_bins().transform(features.iloc[rows])
    return booster.remap(booster.to_json(booster.fit(plain, y, seed)), pre.plain_positions())


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
                           opts["min_category_count"], opts["numeric_bins"])
    x = pre.transform(features)
    x_train, y_train, x_valid, y_valid = x[train_idx], y[train_idx], x[valid_idx], y[valid_idx]
    progress(f"{TRAINING}: {len(y)} rows ({len(train_idx)} train, {len(valid_idx)} valid), "
             f"{len(pre.columns)} features -> {pre.width} inputs, churn rate {y.mean():.3f}")

    # The reference points a reader compares with, on the plain (scaled, one-hot)
    # columns and the same split: logistic regression and gradient boosting. The
    # gradient boosting is also the candidate member of the blend.
    plain = pre.without_bins().transform(features)
    baseline = network.logistic_regression(plain[train_idx], y_train, opts, balanced=False)
    p_baseline = baseline.predict_proba(plain[valid_idx])[:, 1]
    baseline_metrics = metrics.classification(y_valid, p_baseline)
    # scikit-learn's fits cannot look at the watch (a cancel, a statement timeout, the
    # time limit) while they run, as Keras's batches do; look between them at least.
    check_watch()
    trees = _trees(pre, features, train_idx, y_train, opts["seed"])
    check_watch()
    p_trees = booster.predict(trees, x_valid)
    gbm_metrics = metrics.classification(y_valid, p_trees)

    start = network.choose_start(x_train, y_train, x_valid, y_valid, opts,
                                 pre.plain_positions())
    check_watch()
    wide = pre.plain_positions() if start["start"] == "plain" else None
    members = [network.fit(x_train, y_train, x_valid, y_valid, opts, progress, member=i,
                           wide_inputs=wide)
               for i in range(opts["ensemble_size"])]
    member_valid = [network.predict(m.model, x_valid) for m in members]
    p_network = np.mean(member_valid, axis=0)
    choice = _choose_blend(trees, y_valid, p_trees, p_network, opts, progress)
    p_valid = booster.blend(choice["network_weight"], p_network, p_trees)
    model_metrics = metrics.classification(y_valid, p_valid)
    model = network.average([m.model for m in members])
    if choice["network_weight"] == 1.0:
        trees = None
    if opts["refit"]:
        pre = Preprocessor.fit(features, opts["max_categories"], opts["min_category_count"],
                               opts["numeric_bins"])
        x_all = pre.transform(features)
        x_valid = x_all[valid_idx]
        wide = pre.plain_positions() if start["start"] == "plain" else None
        model = network.average([
            network.refit(x_all, y, opts, m.best_epoch, progress, member=i, wide_inputs=wide)
            for i, m in enumerate(members)])
        if trees is not None:
            check_watch()
            trees = _trees(pre, features, np.arange(len(y)), y, opts["seed"])

    weight = choice["network_weight"]
    preprocessing = {"features": pre.to_json(), "id_column": spec["input"]["id_column"]}
    keras_extra = {"booster": {**trees, "network_weight": weight}} if trees else {}
    keras_blob = artifacts.pack("churn", "model.keras", artifacts.keras_bytes(model),
                                {**preprocessing, **keras_extra})
    expected = network.predict(model, x_valid)
    if trees:
        expected = booster.blend(weight, expected, booster.predict(trees, x_valid))
    onnx_model, parity = artifacts.onnx_bytes_checked(
        model, x_valid, expected, PARITY_TOLERANCE,
        extend=(lambda graph: booster.attach(graph, trees, weight)) if trees else None)
    background = explainer.background_sample(features, pre, opts["seed"])
    onnx_blob = artifacts.pack("churn", "model.onnx", onnx_model,
                               {**preprocessing, "background": background})
    check_watch()
    importance = explainer.importance(features.iloc[valid_idx], pre, onnx_model, background)

    all_metrics = {
        **model_metrics,
        "n_train": int(len(train_idx)),
        "n_valid": int(len(valid_idx)),
        "baseline_auc": baseline_metrics["auc"],
        "baseline": {"model": "logistic_regression", **baseline_metrics},
        "gbm_auc": gbm_metrics["auc"],
        "gbm": {"model": "hist_gradient_boosting", **gbm_metrics},
        "numeric_encoding": (f"piecewise_linear ({opts['numeric_bins']} quantile bins)"
                             if opts["numeric_bins"] > 1 else "standardised"),
        "members": [{"seed": opts["seed"] + i, "valid_auc": float(roc_auc_score(y_valid, p)),
                     "best_epoch": m.best_epoch, "epochs_run": m.epochs_run}
                    for i, (m, p) in enumerate(zip(members, member_valid, strict=True))],
        "network_valid_auc": float(roc_auc_score(y_valid, p_network)),
        "logistic_start": start,
        "blend": choice,
        "feature_importance": importance,
        "best_epochs": [m.best_epoch for m in members],
        "epochs_run": sum(m.epochs_run for m in members),
        "refit_on_all_rows": bool(opts["refit"]),
        "onnx_max_abs_diff": parity,
        "curves": metrics.curves(y_valid, {"model": p_valid, "logistic_regression": p_baseline}),
    }
    progress(f"{TRAINING}: validation AUC {model_metrics['auc']:.4f} "
             f"(logistic regression {baseline_metrics['auc']:.4f}, "
             f"gradient boosting {gbm_metrics['auc']:.4f})")
    return TrainedModel.build(
        keras_blob=keras_blob, onnx_blob=onnx_blob, spec=spec, options=opts,
        metrics=all_metrics,
        feature_schema={
            "id_column": spec["input"]["id_column"],
            "label_column": spec["input"]["label_column"],
            "numeric": [c.name for c in pre.numeric],
            "categorical": {c.name: c.vocabulary for c in pre.categorical},
            "inputs": pre.output_names(),
            "profile": drift.feature_profile(
                features, [c.name for c in pre.numeric], [c.name for c in pre.categorical],
                spec["limits"].get("drift_min_rows", drift.drift_columns.MIN_ROWS)),
        },
        trained_rows=len(y), started=started, device=members[0].device,
    )


def score(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str) -> pd.DataFrame:
    """Churn probability for every input row, from the ONNX bundle (no TensorFlow).
    The work is ``scoring.score_columns``'s; this is its DataFrame face."""
    model = scoring.scorer(onnx_artifact, onnx_sha256)
    columns = explainer.frame_columns(frame, model.id_column)
    ids, probability = scoring.score_columns(columns, len(frame), model)
    return pd.DataFrame({"customer_id": np.asarray(ids, dtype=object),
                         "churn_probability": probability})


def keras_predict(keras_artifact: bytes, sha256: str, x: np.ndarray) -> np.ndarray:
    """What the ONNX graph must compute for the encoded rows ``x``, from the Keras
    bundle: the network, blended with the gradient-boosted member when it has one."""
    from sqlml.kinds.churn import network

    bundle = artifacts.unpack(keras_artifact, sha256, "artifact")
    p = network.predict(artifacts.load_keras(bundle.model_bytes), x)
    trees = bundle.preprocessing.get("booster")
    if trees:
        p = booster.blend(trees["network_weight"], p, booster.predict(trees, x))
    return p
