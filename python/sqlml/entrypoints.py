"""What the database calls: plain functions ``DataFrame (+ params) -> DataFrame``.

These know nothing of PL/Python or ``sp_execute_external_script``; the engine
adapters (``sqlml.adapters.postgres``, ``sqlml.adapters.mssql``) read the
caller's data, call one of these, and hand the frame back to SQL.
"""

from __future__ import annotations

import platform
from importlib import metadata

import pandas as pd

import sqlml
from sqlml import kinds
from sqlml.kinds import TrainedModel, training

# What the in-database code imports; reported without importing (TensorFlow
# alone takes seconds to import).
RUNTIME_PACKAGES = ("numpy", "pandas", "onnxruntime", "onnx", "tensorflow", "keras", "tf2onnx",
                    "scikit-learn")


def runtime_info() -> pd.DataFrame:
    rows = [("python", platform.python_version()), ("sqlml", sqlml.__version__)]
    for package in RUNTIME_PACKAGES:
        try:
            rows.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            rows.append((package, None))
    return pd.DataFrame(rows, columns=["component", "version"])


def train_model(kind: str, frame: pd.DataFrame, spec: dict, options: str | dict | None,
                progress=lambda message: None, interrupt=None) -> TrainedModel:
    """Training rows -> a trained model of ``kind`` (``models/<kind>.json``): its two
    bundles and its registry row. The one entry point that returns no frame: a model
    is not a table, and both engines hand its parts to ``ops.register_model``.

    ``interrupt``: the engine's hook, called about every half second while a network
    trains; it raises when the caller cancelled (PostgreSQL: a pending cancel or
    statement timeout). Training also stops at the spec's ``limits.max_training_seconds``.
    """
    limit = spec.get("limits", {}).get("max_training_seconds")
    with training.watched(interrupt, limit):
        return kinds.trainer(kind)(frame, spec, options, progress)


def score_churn(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str) -> pd.DataFrame:
    """Scoring rows -> ``customer_id``, ``churn_probability``, one row per input row."""
    from sqlml.kinds.churn import model as churn

    return churn.score(frame, onnx_artifact, onnx_sha256)


def forecast(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
             horizon: int | None = None) -> pd.DataFrame:
    """Series rows -> ``series_id``, ``period``, ``step``, ``forecast``, ``lower``,
    ``upper``: ``horizon`` rows per series (NULL: the model's horizon)."""
    from sqlml.kinds.forecaster import model as forecaster

    if horizon is not None and not pd.isna(horizon):
        horizon = int(horizon)
    else:
        horizon = None
    return forecaster.forecast(frame, onnx_artifact, onnx_sha256, horizon)
