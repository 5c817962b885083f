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
from sqlml.errors import SqlmlError


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
    # print() output reaches the caller as SQL Server messages (SSMS, sqlcmd, job history),
    # but only when the script ends: the language extension captures stdout in a
    # StringIO for the whole script (docs/progress.md), so flushing does not stream it.
    print(message, flush=True)


def output(frame: pd.DataFrame) -> pd.DataFrame:
    """OutputDataSet as SQL Server reads it: pandas 3 infers a ``str`` dtype for
    text, which the language extension's bridge does not take (it reads NumPy
    dtypes only); object columns with None for NULL it does. Numeric and datetime
    columns keep their dtype."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
            continue  # bool counts as numeric
        out[name] = column.astype(object).where(column.notna(), None)
    return out


def runtime_info() -> pd.DataFrame:
    return output(entrypoints.runtime_info())


@_report
def train_model(kind: str, InputDataSet: pd.DataFrame, spec: str,
                options: str | None) -> tuple[bytes, bytes, str]:
    """ops.train_model's @script: the OUTPUT parameters @artifact, @onnx_artifact,
    @registration."""
    _progress(f"sqlml: read {len(InputDataSet)} training rows")
    trained = entrypoints.train_model(kind, InputDataSet, json.loads(spec), options,
                                      progress=_progress)
    return trained.artifact, trained.onnx_artifact, trained.registration_json()


@_report
def score_churn(InputDataSet: pd.DataFrame, onnx_artifact: bytes,
                onnx_sha256: str) -> pd.DataFrame:
    """OutputDataSet: customer_id NVARCHAR(64), churn_probability FLOAT."""
    return output(entrypoints.score_churn(InputDataSet, onnx_artifact, onnx_sha256))


@_report
def forecast(InputDataSet: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
             horizon) -> pd.DataFrame:
    """OutputDataSet: series_id NVARCHAR(128), period DATE, step INT, forecast FLOAT,
    lower FLOAT, upper FLOAT."""
    return output(entrypoints.forecast(InputDataSet, onnx_artifact, onnx_sha256, horizon))


def _drift_json(InputDataSet: pd.DataFrame, profile: str | None) -> str:
    """The drift rows as JSON for the procedure's @drift OUTPUT parameter, which it
    unpacks with OPENJSON into ops.run_drift in the transaction of the batch."""
    from sqlml.kinds import drift

    try:
        out = entrypoints.drift(InputDataSet, profile)
        flagged = out.loc[out["flagged"], "feature"].tolist()
        if flagged:
            _progress(f"sqlml: input drift past PSI {drift.PSI_THRESHOLD} in: "
                      f"{', '.join(flagged)} (see models.drift)")
        return drift.as_json(out)
    except Exception as exc:  # drift must never fail the batch it describes
        return json.dumps([{"feature": "*", "psi": None, "flagged": False,
                            "detail": {"error": f"drift could not be measured: {exc}"}}])


@_report
def score_churn_with_drift(InputDataSet: pd.DataFrame, onnx_artifact: bytes,
                           onnx_sha256: str, profile: str | None) -> tuple[pd.DataFrame, str]:
    """ml.score_churn's @script once drift is wired: ``OutputDataSet, drift =``
    (customer_id, churn_probability; and the @drift OUTPUT parameter, JSON)."""
    scores = score_churn(InputDataSet, onnx_artifact, onnx_sha256)
    return scores, _drift_json(InputDataSet, profile)


@_report
def forecast_with_drift(InputDataSet: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
                        horizon, profile: str | None) -> tuple[pd.DataFrame, str]:
    """ml.forecast's @script once drift is wired: ``OutputDataSet, drift =``."""
    out = forecast(InputDataSet, onnx_artifact, onnx_sha256, horizon)
    return out, _drift_json(InputDataSet, profile)
