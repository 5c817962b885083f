"""The SQL Server adapter: what a procedure's ``@script`` calls.

SQL Server's ``sp_execute_external_script`` binds ``InputDataSet`` (a DataFrame
built from ``@input_data_1``), one Python variable per ``@params`` entry, and
reads back ``OutputDataSet`` and any OUTPUT parameters. Each ``@script`` is a
single call into a function here, which takes those variables as arguments and
returns either ``OutputDataSet`` (with the exact columns of the procedure's
``WITH RESULT SETS``) or the values of its OUTPUT parameters.

Errors come back as a value, not an exception: an exception would surface in
SQL Server as the generic Msg 39004 ("A 'sqlml_python' script error occurred"),
with our sentence only in the stderr messages, so ``ERROR_MESSAGE()``,
``ops.runs.error`` and the caller would never see it. So each function here
returns, besides its results, ``script_error``: None, or the error's sentence,
which the procedure receives as ``@script_error NVARCHAR(MAX) OUTPUT`` and raises
with ``THROW 50xxx`` (procedures/mssql/*.sql); the traceback still goes to stderr.
"""

from __future__ import annotations

import functools
import json
import sys
import traceback

import numpy as np
import pandas as pd

from sqlml import entrypoints
from sqlml.errors import SqlmlError


def script_error(exc: BaseException) -> str:
    """The sentence the procedure THROWs: ours as raised, anything else with its type."""
    traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, SqlmlError):
        return f"sqlml: {exc}"
    return f"sqlml: {type(exc).__name__} in the in-database Python: {exc}"


def _returns_error(empty):
    """Run fn; on an exception return ``empty`` plus the error's sentence, so that
    the @script ends normally and its OUTPUT parameter carries the error."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:  # every error must reach THROW
                return (*empty(), script_error(exc))
            return (*(result if isinstance(result, tuple) else (result,)), None)

        return wrapper

    return decorate


def _empty(**dtypes: str):
    """An OutputDataSet of no rows with the columns WITH RESULT SETS declares."""
    return lambda: (pd.DataFrame({c: pd.Series([], dtype=d) for c, d in dtypes.items()}),)


def _progress(message: str) -> None:
    # print() output reaches the caller as SQL Server messages (SSMS, sqlcmd, job history),
    # but only when the script ends: the language extension captures stdout in a
    # StringIO for the whole script (docs/progress.md), so flushing does not stream it.
    print(message, flush=True)


def _missing(value) -> bool:
    """A NULL parameter as the language extension hands it: None, or NaN for numbers."""
    return value is None or (isinstance(value, float) and value != value)


def output(frame: pd.DataFrame) -> pd.DataFrame:
    """OutputDataSet as SQL Server's Python language extension reads it (it maps NumPy
    dtypes only, tests/langext): pandas 3 infers a ``str`` dtype for text, which it
    refuses ("Expecting an object of type numpy.dtype"), so text becomes ``object``
    with None for NULL; of the timestamps it takes only ``datetime64[ns]``, and
    pandas 3 keeps a DATETIME2 input (or any parsed date) at ``datetime64[us]``
    ("Unsupported data type datetime64[us]"), so timestamps become ``[ns]`` (naive
    UTC where they carry a zone). Numeric and bool columns keep their dtype."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            if getattr(column.dt, "tz", None) is not None:
                column = column.dt.tz_convert("UTC").dt.tz_localize(None)
            out[name] = column.astype("datetime64[ns]")
        elif not pd.api.types.is_numeric_dtype(column):  # bool counts as numeric
            out[name] = column.astype(object).where(column.notna(), None)
    return out


@_returns_error(_empty(component="object", version="object"))
def runtime_info() -> tuple:
    """OutputDataSet: component NVARCHAR(64), version NVARCHAR(256); @script_error."""
    return output(entrypoints.runtime_info())


@_returns_error(lambda: (None, None, None))
def train_model(kind: str, InputDataSet: pd.DataFrame, spec: str, options: str | None,
                champion_id=None, champion_version=None, champion_onnx: bytes | None = None,
                champion_sha256: str | None = None) -> tuple:
    """ops.run_train's @script: the OUTPUT parameters @artifact, @onnx_artifact,
    @registration, @script_error. ``champion_*``: the active version when training may
    activate (NULL otherwise), measured on the new version's held-out rows."""
    _progress(f"sqlml: read {len(InputDataSet)} training rows")
    champion = None
    if champion_onnx is not None and not _missing(champion_id):
        champion = {"model_id": int(champion_id), "version": int(champion_version),
                    "onnx_artifact": champion_onnx, "onnx_sha256": champion_sha256}
    trained = entrypoints.train_model(kind, InputDataSet, json.loads(spec), options,
                                      progress=_progress, champion=champion)
    return trained.artifact, trained.onnx_artifact, trained.registration_json()


@_returns_error(_empty(customer_id="object", churn_probability="float64"))
def score_churn(InputDataSet: pd.DataFrame, onnx_artifact: bytes,
                onnx_sha256: str) -> tuple:
    """OutputDataSet: customer_id NVARCHAR(64), churn_probability FLOAT; @script_error."""
    return output(entrypoints.score_churn(InputDataSet, onnx_artifact, onnx_sha256))


@_returns_error(_empty(series_id="object", period="datetime64[ns]", step="int64",
                        forecast="float64", lower="float64", upper="float64"))
def forecast(InputDataSet: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
             horizon) -> tuple:
    """OutputDataSet: series_id NVARCHAR(128), period DATETIME2(0), step INT, forecast FLOAT,
    lower FLOAT, upper FLOAT; @script_error."""
    return output(entrypoints.forecast(InputDataSet, onnx_artifact, onnx_sha256, horizon))


def _drift_json(InputDataSet: pd.DataFrame, profile: str | None) -> str:
    """The drift rows as JSON for the procedure's @drift OUTPUT parameter, which it
    unpacks with OPENJSON into ops.run_drift in the transaction of the batch."""
    from sqlml.kinds import drift

    try:
        out = _drift_rows(InputDataSet, profile)
        flagged = out.loc[out["flagged"], "feature"].tolist()
        if flagged:
            _progress(f"sqlml: input drift past PSI {drift.PSI_THRESHOLD} in: "
                      f"{', '.join(flagged)} (see models.drift)")
        return drift.as_json(out)
    except Exception as exc:  # drift must never fail the batch it describes
        return json.dumps([{"feature": "*", "psi": None, "flagged": False,
                            "detail": {"error": f"drift could not be measured: {exc}"}}])


def _drift_rows(frame: pd.DataFrame, profile: str | None) -> pd.DataFrame:
    """Drift of a churn input through the NumPy comparison (kinds/drift_columns.py,
    the same rows as the pandas one at a third of its cost on 200,000 rows): numbers
    as float64, text as str or None; series profiles (forecasts) through pandas."""
    from sqlml.kinds.drift import COLUMNS

    try:
        parsed = json.loads(profile) if isinstance(profile, str) else profile
        kind, features = parsed.get("kind"), parsed.get("features") or {}
    except (ValueError, AttributeError):
        return entrypoints.drift(frame, profile)  # which says what is wrong with it
    if kind == "series":
        return entrypoints.drift(frame, profile)
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_bool_dtype(values):
            # As pandas reads a bit: 1.0 / 0.0 for a numeric feature, else its text.
            flags = values.to_numpy(dtype=bool)
            expected = features.get(str(name).strip().lower(), {})
            columns[name] = (flags.astype(np.float64) if expected.get("type") == "numeric"
                             else np.where(flags, "True", "False").astype(object))
        elif pd.api.types.is_numeric_dtype(values):
            columns[name] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        elif pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            array = values.to_numpy(dtype=object)  # NULL as None, as PostgreSQL's reader
            columns[name] = np.where(pd.isna(array), None, array)
        else:  # dates and other types: pandas' own rules for the whole input
            return entrypoints.drift(frame, profile)
    return pd.DataFrame(entrypoints.drift_column_rows(columns, len(frame), profile),
                        columns=COLUMNS)


@_returns_error(lambda: (*_empty(customer_id="object", churn_probability="float64")(), None))
def score_churn_with_drift(InputDataSet: pd.DataFrame, onnx_artifact: bytes,
                           onnx_sha256: str, profile: str | None) -> tuple:
    """ml.score_churn's @script once drift is wired:
    ``OutputDataSet, drift, script_error =``: the scores (customer_id,
    churn_probability), the @drift OUTPUT parameter (JSON rows for ops.run_drift)
    and @script_error. Drift never produces the error."""
    scores = output(entrypoints.score_churn(InputDataSet, onnx_artifact, onnx_sha256))
    return scores, _drift_json(InputDataSet, profile)


_NO_BATCH = (None, None, 0)  # @drift_state, @drift, @rows_read of a batch that failed


@_returns_error(lambda: (*_empty(customer_id="object", churn_probability="float64")(),
                         *_NO_BATCH))
def score_churn_batch(InputDataSet: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
                      profile: str | None, drift_state: str | None) -> tuple:
    """ml.score_churn's @script for one batch of its input (ops.run_score_churn reads
    the input in ranges of the id column, one external script each, so the satellite
    process holds a batch, never the table): ``OutputDataSet, drift_state, drift,
    rows_read, script_error =``. ``drift_state``: the drift counts of the batches
    before (None: the first), given back with this batch's added; ``drift``: the JSON
    rows for ops.run_drift of every row so far (the procedure keeps the last batch's)."""
    scores = output(entrypoints.score_churn(InputDataSet, onnx_artifact, onnx_sha256))
    return (scores, *_drift_batch(InputDataSet, profile, drift_state))


@_returns_error(lambda: (*_empty(customer_id="object", churn_probability="float64",
                                 rank="float64", feature="object", feature_value="object",
                                 contribution="float64")(), *_NO_BATCH))
def score_churn_explained_batch(InputDataSet: pd.DataFrame, onnx_artifact: bytes,
                                onnx_sha256: str, explain, profile: str | None,
                                drift_state: str | None) -> tuple:
    """:func:`score_churn_batch` for ``@explain`` > 0: the result set of
    :func:`score_churn_explained_with_drift`, then ``drift_state, drift, rows_read,
    script_error``."""
    out, _ = score_churn_explained_with_drift.__wrapped__(
        InputDataSet, onnx_artifact, onnx_sha256, explain, None)
    return (out, *_drift_batch(InputDataSet, profile, drift_state))


def _drift_batch(frame: pd.DataFrame, profile: str | None, state: str | None) -> tuple:
    """A batch's drift added to the counts of the batches before it: the new counts
    (JSON), the drift rows of all rows so far (JSON), and the batch's row count."""
    from sqlml.kinds import drift
    from sqlml.kinds.drift_columns import Tally

    try:
        tally = Tally.from_state(profile, state)
        tally.add(_drift_columns(frame, tally.profile), len(frame))
        out = pd.DataFrame(tally.rows(), columns=drift.COLUMNS)
        return tally.state(), drift.as_json(out), len(frame)
    except Exception as exc:  # drift must never fail the batch it describes
        return None, json.dumps([{"feature": "*", "psi": None, "flagged": False,
                                  "detail": {"error": f"drift could not be measured: {exc}"}}]
                                ), len(frame)


def _drift_columns(frame: pd.DataFrame, profile: dict | None) -> dict:
    """A frame's columns as the NumPy drift comparison takes them (as _drift_rows
    converts them); other types as objects, compared value by value."""
    features = (profile or {}).get("features") or {}
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_bool_dtype(values):
            flags = values.to_numpy(dtype=bool)
            expected = features.get(str(name).strip().lower(), {})
            columns[name] = (flags.astype(np.float64) if expected.get("type") == "numeric"
                             else np.where(flags, "True", "False").astype(object))
        elif pd.api.types.is_numeric_dtype(values):
            columns[name] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            array = values.to_numpy(dtype=object)
            columns[name] = np.where(pd.isna(array), None, array)
    return columns


@_returns_error(lambda: (*_empty(customer_id="object", churn_probability="float64",
                                 rank="float64", feature="object", feature_value="object",
                                 contribution="float64")(), None))
def score_churn_explained_with_drift(InputDataSet: pd.DataFrame, onnx_artifact: bytes,
                                     onnx_sha256: str, explain, profile: str | None) -> tuple:
    """ml.score_churn's @script for ``@explain`` > 0: ``OutputDataSet, drift,
    script_error =``. A script returns one result set, so it holds both halves, with
    columns customer_id NVARCHAR(64), churn_probability FLOAT, rank INT, feature
    NVARCHAR(128), feature_value NVARCHAR(4000), contribution FLOAT: a customer's score
    is the row whose ``rank`` is NULL; each of its ``explain`` reasons is a row with
    ``rank`` 1..k and a NULL probability. The procedure splits them into
    predictions.churn_scores and predictions.churn_reasons in one transaction.
    (``@explain`` = 0 keeps :func:`score_churn_with_drift`, two columns, as lean as before.)"""
    scores = entrypoints.score_churn(InputDataSet, onnx_artifact, onnx_sha256)
    reasons = entrypoints.explain_churn(InputDataSet, onnx_artifact, onnx_sha256,
                                        0 if explain is None else explain)
    score_rows = scores.assign(rank=float("nan"), feature=None, feature_value=None,
                               contribution=float("nan"))
    reason_rows = reasons.assign(churn_probability=float("nan"))
    out = pd.concat([score_rows, reason_rows[score_rows.columns]], ignore_index=True)
    # rank as float: the bridge reads NumPy dtypes only, and NaN is how a numeric NULL
    # crosses it; WITH RESULT SETS casts it back to INT.
    return output(out.astype({"rank": "float64"})), _drift_json(InputDataSet, profile)


@_returns_error(lambda: (*_empty(series_id="object", period="datetime64[ns]", step="int64",
                                 forecast="float64", lower="float64", upper="float64")(),
                         None))
def forecast_with_drift(InputDataSet: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
                        horizon, profile: str | None) -> tuple:
    """ml.forecast's @script once drift is wired: ``OutputDataSet, drift, script_error =``."""
    out = output(entrypoints.forecast(InputDataSet, onnx_artifact, onnx_sha256, horizon))
    return out, _drift_json(InputDataSet, profile)


@_returns_error(lambda: (*_empty(series_id="object", period="datetime64[ns]", step="int64",
                                 forecast="float64", lower="float64", upper="float64")(),
                         *_NO_BATCH))
def forecast_batch(InputDataSet: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
                   horizon, profile: str | None, drift_state: str | None) -> tuple:
    """ml.forecast's @script for one batch of whole series (ops.run_forecast reads the
    input in ranges of the series id, one external script each, so the satellite
    process holds a batch of series, never all of them): ``OutputDataSet, drift_state,
    drift, series_read, script_error =``. ``drift_state``: the level and scale of every
    series before (None: the first batch), given back with this batch's added
    (kinds/drift_series.py); ``drift``: the JSON rows for ops.run_drift of every series
    so far (the procedure keeps the last batch's)."""
    from sqlml.kinds import drift
    from sqlml.kinds.drift_series import SeriesTally

    out = output(entrypoints.forecast(InputDataSet, onnx_artifact, onnx_sha256, horizon))
    try:
        tally = SeriesTally.from_state(profile, drift_state)
    except (ValueError, KeyError, TypeError) as exc:  # drift never fails the batch
        tally = SeriesTally(profile, error=f"drift could not be measured: {exc}")
    tally.add(InputDataSet)
    out_drift = tally.frame()
    flagged = out_drift.loc[out_drift["flagged"].astype(bool), "feature"].tolist()
    if flagged:
        _progress(f"sqlml: input drift past PSI {drift.PSI_THRESHOLD} in: "
                  f"{', '.join(flagged)} (see models.drift)")
    return out, tally.state(), drift.as_json(out_drift), int(out["series_id"].nunique())


@_returns_error(lambda: (None, None))
def evaluate_churn(InputDataSet: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
                   recorded: str, spec_input: str) -> tuple:
    """ops.run_evaluate's @script for a churn model: the OUTPUT parameters @rows,
    @metrics (JSON), @script_error. ``recorded``: the version's validation metrics."""
    n, metrics = entrypoints.evaluate_churn(InputDataSet, onnx_artifact, onnx_sha256,
                                            json.loads(recorded), json.loads(spec_input))
    return n, json.dumps(metrics)


@_returns_error(lambda: (None, None))
def evaluate_forecaster(InputDataSet: pd.DataFrame, forecasts: str | None, season) -> tuple:
    """ops.run_evaluate's @script for a forecaster: the OUTPUT parameters @rows, @metrics
    (JSON), @script_error. ``forecasts``: the version's latest forecast of each period, as
    the JSON rows FOR JSON PATH writes (series_id, period, forecast, lower, upper)."""
    rows = json.loads(forecasts) if forecasts else []
    frame = pd.DataFrame(rows, columns=["series_id", "period", "forecast", "lower", "upper"])
    n, metrics = entrypoints.evaluate_forecaster(InputDataSet, frame,
                                                 1 if _missing(season) else int(season))
    return n, json.dumps(metrics)
