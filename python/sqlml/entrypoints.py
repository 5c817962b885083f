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
