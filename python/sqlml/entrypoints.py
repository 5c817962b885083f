"""What the database calls: plain functions ``DataFrame (+ params) -> DataFrame``.

These know nothing of PL/Python or ``sp_execute_external_script``; the engine
adapters (``sqlml.adapters.postgres``, ``sqlml.adapters.mssql``) read the
caller's data, call one of these, and hand the frame back to SQL.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata

import pandas as pd

import sqlml

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


def train_churn_model(frame: pd.DataFrame, spec: dict, options: str | dict | None,
                      progress=lambda message: None) -> pd.DataFrame:
    """Training rows -> one row: ``artifact`` and ``onnx_artifact`` (bytes) and
    ``registration`` (JSON text: hashes, spec, metrics, feature schema, device)."""
    from sqlml.kinds.churn import model as churn

    trained = churn.train(frame, spec, options, progress)
    return pd.DataFrame([{
        "artifact": trained["artifact"],
        "onnx_artifact": trained["onnx_artifact"],
        "registration": json.dumps(trained["registration"]),
    }])


def score_churn(frame: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str) -> pd.DataFrame:
    """Scoring rows -> ``customer_id``, ``churn_probability``, one row per input row."""
    from sqlml.kinds.churn import model as churn

    return churn.score(frame, onnx_artifact, onnx_sha256)


def train_forecaster(frame: pd.DataFrame, spec: dict, options: str | dict | None,
                     progress=lambda message: None) -> pd.DataFrame:
    """Series rows -> one row: ``artifact``, ``onnx_artifact`` (bytes) and
    ``registration`` (JSON text), as ``train_churn_model``."""
    from sqlml.kinds.forecaster import model as forecaster

    trained = forecaster.train(frame, spec, options, progress)
    return pd.DataFrame([{
        "artifact": trained["artifact"],
        "onnx_artifact": trained["onnx_artifact"],
        "registration": json.dumps(trained["registration"]),
    }])


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


# Training entry points by model kind (models/<kind>.json): what ops.train_model runs.
TRAINERS = {"churn": train_churn_model, "forecaster": train_forecaster}
