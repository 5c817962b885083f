"""The PostgreSQL adapter: runs inside PL/Python, with the session's ``plpy``.

Each function here is called from one ``plpython3u`` procedure body, after
``ops.use_python_runtime()`` has put sqlml on ``sys.path``. Our own errors become
PostgreSQL errors with a SQLSTATE and no Python traceback.

A call runs in two halves, because PostgreSQL cannot switch back to the caller
inside a SECURITY DEFINER function:

1. :func:`stage_input` (``ops.stage_input``, SECURITY INVOKER) reads the caller's
   input query with the caller's own rights into a DataFrame and keeps it in this
   session's memory under the call's run id.
2. The owner's half (``ops.run_call``, SECURITY DEFINER) loads and checks the model,
   and its embedded-Python part (:func:`train_staged`, :func:`score_churn_staged`,
   :func:`forecast_staged`) takes the staged frame by run id, so it never reads
   anything with the owner's rights on a caller's behalf, and never accepts results
   (scores, metrics, blobs) from the caller.

PL/Python has one interpreter per session, and only superusers create
``plpython3u`` functions, so ``_STAGED`` is reachable by sqlml's own code only.
"""

from __future__ import annotations

import functools
import json
import re
from decimal import Decimal

import numpy as np
import pandas as pd

from sqlml import entrypoints
from sqlml.errors import (
    ArtifactError,
    InputError,
    ModelNotFoundError,
    ResourceLimitError,
    SqlmlError,
)

SQLSTATES = {
    InputError: "22023",  # invalid_parameter_value
    ModelNotFoundError: "42704",  # undefined_object
    ArtifactError: "XX001",  # data_corrupted
    ResourceLimitError: "53400",  # configuration_limit_exceeded
}
# PostgreSQL type OIDs whose Python values need converting for pandas.
NUMERIC_OID = 1700
FLOAT_OIDS = {700, 701, NUMERIC_OID}
INT_OIDS = {20, 21, 23}
TIME_OIDS = {1082, 1114, 1184}  # date, timestamp, timestamptz: PL/Python hands over text


def _state(exc: SqlmlError) -> str:
    return next((s for cls, s in SQLSTATES.items() if isinstance(exc, cls)), "XX000")


def database_errors(fn):
    """Raise our errors as ``plpy.error`` with a SQLSTATE, keeping the message clean."""

    @functools.wraps(fn)
    def wrapper(plpy, *args, **kwargs):
        try:
            return fn(plpy, *args, **kwargs)
        except SqlmlError as exc:
            plpy.error(f"sqlml: {exc}", sqlstate=_state(exc))

    return wrapper


def wrap_query(query: str) -> str:
    """The caller's query as a derived table: only a query can stand there, so a
    second statement or a data-modifying one is a syntax error, not an action."""
    if query is None or not query.strip():
        raise InputError("input_query is empty")
    body = re.sub(r"[;\s]+$", "", query.strip())
    return f"SELECT * FROM (\n{body}\n) AS sqlml_input"


def read_query(plpy, query: str) -> pd.DataFrame:
    wrapped = wrap_query(query)
    # A LIMIT 0 run gives the column names and types (and plans the query)
    # without reading a row.
    meta = plpy.execute(f"{wrapped} LIMIT 0")
    names, types = meta.colnames(), meta.coltypes()
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"input_query returns column {repeated[0]!r} more than once: "
                         "alias one of them")
    if not names:
        raise InputError("input_query returns no columns")
    # One row of one array per column: PL/Python converts arrays to lists in C,
    # about five times faster than building a dict per row (100k rows: 0.15 s
    # against 0.7 s). All aggregates of one scan see the rows in the same order.
    quote = plpy.quote_ident
    arrays = ", ".join(f"array_agg(q.{quote(n)}) AS c{i}" for i, n in enumerate(names))
    [row] = plpy.execute(f"SELECT count(*) AS n, {arrays} FROM ({wrapped}) AS q")
    return pd.DataFrame({
        name: _column(row[f"c{i}"] or [], oid)
        for i, (name, oid) in enumerate(zip(names, types, strict=True))
    })


def _column(values: list, oid: int) -> pd.Series:
    if oid in FLOAT_OIDS:
        return pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64")
    if oid in INT_OIDS:
        if any(v is None for v in values):
            return pd.Series([np.nan if v is None else float(v) for v in values],
                             dtype="float64")
        return pd.Series(values, dtype="int64")
    if oid in TIME_OIDS:
        return pd.Series(pd.to_datetime(values, utc=True, format="ISO8601"))
    if values and any(isinstance(v, Decimal) for v in values[:100]):
        return pd.Series([None if v is None else float(v) for v in values], dtype="float64")
    return pd.Series(values, dtype=object)


def rows(frame: pd.DataFrame) -> list[tuple]:
    """A frame as PL/Python's set-returning functions want it, NaN as NULL."""
    clean = frame.astype(object).where(frame.notna(), None)
    return list(clean.itertuples(index=False, name=None))


def runtime_info(plpy) -> list[tuple]:
    return rows(entrypoints.runtime_info())


# --- the two halves of a call ---------------------------------------------------


# run id -> the caller's input rows, read by stage_input, taken by the owner's half.
_STAGED: dict[int, pd.DataFrame] = {}


@database_errors
def stage_input(plpy, run_id: int, input_query: str) -> None:
    """ops.stage_input: read the input query as the caller; keep the rows for the run.
    An error reading it (a cancel included) goes up to ops.call's handler, which
    records it in ops.runs without the data values it may quote."""
    # One call in progress stages at a time; a call that failed before taking its
    # input leaves nothing behind for long.
    _STAGED.clear()
    _STAGED[run_id] = read_query(plpy, input_query)


def staged(run_id: int) -> pd.DataFrame:
    """The rows :func:`stage_input` kept for ``run_id``, taken out."""
    frame = _STAGED.pop(run_id, None)
    if frame is None:
        raise InputError(f"run {run_id} has no input read in this session: "
                         "call the ml routine, which reads it first")
    return frame


def interrupt_hook(plpy):
    """Training's interrupt hook: a trivial query, during which PostgreSQL processes a
    pending cancel or statement timeout and raises it into Python."""
    return lambda: plpy.execute("SELECT 1")


@database_errors
def train_staged(plpy, run_id: int, kind: str, spec: str, options: str | None) -> list[tuple]:
    """ops.train_staged: one row of the Keras bundle, the ONNX bundle, the registration."""
    frame = staged(run_id)
    plpy.notice(f"sqlml: read {len(frame)} training rows")
    trained = entrypoints.train_model(kind, frame, json.loads(spec), options,
                                      progress=plpy.notice, interrupt=interrupt_hook(plpy))
    return [(trained.artifact, trained.onnx_artifact, trained.registration_json())]


@database_errors
def score_churn_staged(plpy, run_id: int, onnx_artifact: bytes,
                       onnx_sha256: str) -> list[tuple]:
    frame = staged(run_id)
    scores = entrypoints.score_churn(frame, onnx_artifact, onnx_sha256)
    return [(scores["customer_id"].tolist(), scores["churn_probability"].tolist())]


@database_errors
def forecast_staged(plpy, run_id: int, onnx_artifact: bytes, onnx_sha256: str,
                    horizon: int | None) -> list[tuple]:
    frame = staged(run_id)
    out = entrypoints.forecast(frame, onnx_artifact, onnx_sha256, horizon)
    # ISO dates: PL/Python hands text to the DATE input function.
    out["period"] = out["period"].dt.strftime("%Y-%m-%d")
    return rows(out)
