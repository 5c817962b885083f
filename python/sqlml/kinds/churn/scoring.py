"""Scoring and explaining churn from the ONNX bundle: ONNX Runtime, NumPy and pandas only.

Kept apart from training (``model``) so that scoring imports neither TensorFlow
nor scikit-learn: a scoring call starts in a fraction of training's import time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sqlml import artifacts
from sqlml.errors import ArtifactError, InputError
from sqlml.kinds.churn import explain as explainer
from sqlml.kinds.churn.preprocessing import Preprocessor
from sqlml.kinds.columns import normalise_columns, text_ids

MAX_ID_LENGTH = 64


def require_column(frame: pd.DataFrame, column: str, routine: str) -> None:
    if column not in frame.columns:
        shown = ", ".join(frame.columns[:20]) or "none"
        raise InputError(f"{routine}: input has no {column!r} column (columns: {shown})")


def customer_ids(values: pd.Series, column: str) -> pd.Series:
    return text_ids(values, column, MAX_ID_LENGTH)


def _scoring_input(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
                   routine: str):
    """The checked bundle, the normalised frame and its customer ids."""
    bundle = artifacts.unpack(onnx_artifact, onnx_sha256, "onnx_artifact")
    if bundle.kind != "churn" or bundle.member != "model.onnx":
        raise ArtifactError(f"onnx_artifact holds a {bundle.kind} {bundle.member}, "
                            "not a churn ONNX model")
    id_col = bundle.preprocessing["id_column"]
    frame = normalise_columns(frame)
    require_column(frame, id_col, routine)
    ids = customer_ids(frame[id_col], id_col)
    duplicated = ids[ids.duplicated()]
    if not duplicated.empty:
        raise InputError(
            f"{routine}: column {id_col!r} has duplicates ({duplicated.iloc[0]!r} and "
            f"{len(duplicated) - 1} more); each customer is scored once per run"
        )
    return bundle, frame, ids


def score(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str) -> pd.DataFrame:
    """Churn probability for every input row, from the ONNX bundle (no TensorFlow)."""
    bundle, frame, ids = _scoring_input(frame, onnx_artifact, onnx_sha256, "ml.score_churn")
    pre = Preprocessor.from_json(bundle.preprocessing["features"])
    x = pre.transform(frame)
    session = artifacts.onnx_session(bundle.model_bytes)
    probability = artifacts.onnx_predict(session, x).reshape(-1) if len(x) else []
    return pd.DataFrame({"customer_id": ids.to_numpy(dtype=object),
                         "churn_probability": np.asarray(probability, dtype=np.float64)})


def explain(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
            k: int) -> pd.DataFrame:
    """The ``k`` input columns that raise each customer's churn probability most:
    ``customer_id``, ``rank`` (1 first), ``feature``, ``feature_value`` (text),
    ``contribution`` (change in probability; see ``explain``). ONNX Runtime only."""
    whole = isinstance(k, int | np.integer | float | np.floating) and not isinstance(k, bool) \
        and not pd.isna(k) and float(k).is_integer()
    if not whole or k < 0:
        raise InputError(f"ml.score_churn: explain must be a non-negative integer "
                         f"(reasons per customer); got {k!r}")
    k = int(k)
    bundle, frame, ids = _scoring_input(frame, onnx_artifact, onnx_sha256, "ml.score_churn")
    pre = Preprocessor.from_json(bundle.preprocessing["features"])
    if k == 0:
        return explainer.top_reasons(ids, frame, pre.columns, np.zeros((0, 0)), 0)
    background = bundle.preprocessing.get("background")
    if not background:
        raise ArtifactError("this churn model version was trained before explanations "
                            "existed (its bundle has no background sample); retrain it "
                            "to explain its scores")
    phi = explainer.explain_matrix(frame, pre, artifacts.onnx_session(bundle.model_bytes),
                                   background)
    return explainer.top_reasons(ids, frame, pre.columns, phi, k)
