"""The SQL Server adapter: what a procedure's ``@script`` calls.

SQL Server's ``sp_execute_external_script`` binds ``InputDataSet`` (a DataFrame
built from ``@input_data_1``), one Python variable per ``@params`` entry, and
reads back ``OutputDataSet`` and any OUTPUT parameters. Each ``@script`` is a
single call into a function here, which takes those variables as arguments and
returns either ``OutputDataSet`` (with the exact columns of the procedure's
``WITH RESULT SETS``) or the values of its OUTPUT parameters.

A Python exception surfaces in SQL Server as error 39004 with the script's
stderr in the messages; our errors print one ``sqlml: ...`` line there first,
so the cause reads plainly above the traceback.
"""

from __future__ import annotations

import functools
import json
import sys

import pandas as pd

from sqlml import entrypoints
from sqlml.errors import InputError, SqlmlError


def _report(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SqlmlError as exc:
            print(f"sqlml: {exc}", file=sys.stderr)
            raise

    return wrapper


def _progress(message: str) -> None:
    # print() output reaches the caller as SQL Server messages (SSMS, sqlcmd, job history).
    print(message, flush=True)


def output(frame: pd.DataFrame) -> pd.DataFrame:
    """OutputDataSet as SQL Server reads it: pandas 3 infers a ``str`` dtype for
    text, which the Python runtime's bridge does not take; object columns with
    None for NULL it does. Numeric columns keep their dtype."""
    out = frame.copy()
    for name in out.columns:
        if not pd.api.types.is_numeric_dtype(out[name]):  # bool counts as numeric
            out[name] = out[name].astype(object).where(out[name].notna(), None)
    return out


def runtime_info() -> pd.DataFrame:
    return output(entrypoints.runtime_info())


@_report
def train_model(kind: str, InputDataSet: pd.DataFrame, spec: str,
                options: str | None) -> tuple[bytes, bytes, str]:
    """ops.train_model's @script: the OUTPUT parameters @artifact, @onnx_artifact,
    @registration."""
    train = entrypoints.TRAINERS.get(kind)
    if train is None:
        raise InputError(f"no model kind {kind!r}; kinds: {', '.join(entrypoints.TRAINERS)}")
    _progress(f"sqlml: read {len(InputDataSet)} training rows")
    out = train(InputDataSet, json.loads(spec), options, progress=_progress)
    row = out.iloc[0]
    return row["artifact"], row["onnx_artifact"], row["registration"]


@_report
def score_churn(InputDataSet: pd.DataFrame, onnx_artifact: bytes,
                onnx_sha256: str) -> pd.DataFrame:
    """OutputDataSet: customer_id NVARCHAR(64), churn_probability FLOAT."""
    return output(entrypoints.score_churn(InputDataSet, onnx_artifact, onnx_sha256))


@_report
def forecast(InputDataSet: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
             horizon) -> pd.DataFrame:
    """OutputDataSet: series_id NVARCHAR(128), period DATETIME2(0), step INT, forecast FLOAT,
    lower FLOAT, upper FLOAT."""
    return entrypoints.forecast(InputDataSet, onnx_artifact, onnx_sha256, horizon)
