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
   and its embedded-Python part (``ops.python_step``: :func:`train_staged`,
   :func:`score_churn_staged`, :func:`forecast_staged`, :func:`drift_staged`) takes
   the staged rows by run id, so it never reads
   anything with the owner's rights on a caller's behalf, and never accepts results
   (scores, metrics, blobs) from the caller.

PL/Python has one interpreter per session, and only superusers create
``plpython3u`` functions, so ``_STAGED`` is reachable by sqlml's own code only.

Scoring's caller half takes a lean path (``read_columns``; the owner's half then
calls ``entrypoints.score_churn_columns``):
no pandas is imported, numbers cross as one binary float8 payload per column and
text as one delimited string per column, so a session's first call pays for
NumPy and ONNX Runtime only. Where ``sqlml deploy`` could build them (deploy/
native.py), the C aggregate ``ops.column_payloads`` builds all those payloads in
one step per row and codes low-cardinality text itself, and the batch is written
back through ``ops.payload_texts``/``ops.payload_float8s``: 200,000 telco rows are
read in 0.13 s, not 0.34 s. Elsewhere ``string_agg`` and ``string_to_table`` do the
same work with the same values.
"""

from __future__ import annotations

import functools
import json
import re
import struct
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from sqlml import entrypoints
from sqlml.adapters import text_payload
from sqlml.adapters.text_payload import NULL_MARK, SEPARATOR
from sqlml.errors import (
    ArtifactError,
    InputError,
    ModelNotFoundError,
    ResourceLimitError,
    SqlmlError,
)
from sqlml.kinds.churn import encode

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
BOOL_OID = 16

if TYPE_CHECKING:  # pandas is for training and forecasting; scoring never imports it
    import pandas as pd


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


def _describe(plpy, wrapped: str) -> tuple[list[str], list[int]]:
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
    return names, types


def read_query(plpy, query: str) -> pd.DataFrame:
    import pandas as pd

    wrapped = wrap_query(query)
    names, types = _describe(plpy, wrapped)
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
    import pandas as pd

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


# --- the lean reader: one payload per column -----------------------------------

# Text values are joined with a unit separator; NULL travels as a record
# separator (see text_payload). Both are control characters no real key or
# category holds; a column that does hold one is read again the plain way, so the
# rule is a speed-up, never a change of values.
NAN_FLOAT8 = "decode('7ff8000000000000', 'hex')"  # a NaN, read back as NULL
SECONDS_PER_DAY = 86400.0


def _float8_payload(expr: str) -> str:
    return f"string_agg(coalesce(float8send(({expr})::float8), {NAN_FLOAT8}), ''::bytea)"


def read_columns(plpy, query: str, exact: frozenset[str] = frozenset()
                 ) -> tuple[dict[str, np.ndarray], int, dict[str, encode.Coded]]:
    """The caller's query as one NumPy array per column, the row count, and the text
    columns also as ``encode.Coded`` (distinct values and each row's position).

    Numbers, booleans (0/1) and dates or timestamps (days since 1970, UTC) come
    back as float64 with NaN for NULL; every other type as an object array of
    ``str`` with None for NULL. Integer columns named in ``exact`` (lower-case;
    the id column) come back as text, so a BIGINT key keeps all its digits.
    """
    wrapped = wrap_query(query)
    names, types = _describe(plpy, wrapped)
    kinds = [_kind(name, oid, exact) for name, oid in zip(names, types, strict=True)]
    if _native_reader(plpy, len(names)):
        read = _read_native(plpy, wrapped, names, types, kinds)
    else:
        read = _read(plpy, wrapped, names, kinds, plain_text=False)
    if read is None:
        # A text value holds a separator. Every column is read again, in one scan, so
        # that all of them see the rows in the same order: a query without ORDER BY
        # may return its rows in another order the second time it runs.
        read = _read(plpy, wrapped, names, kinds, plain_text=True)
    return read


def _kind(name: str, oid: int, exact: frozenset[str]) -> str:
    """How a column crosses: float, bool, days, text, or id (text, one value a row)."""
    if name.lower() in exact and oid not in FLOAT_OIDS | TIME_OIDS | {BOOL_OID}:
        return "id"
    if oid in FLOAT_OIDS | INT_OIDS:
        return "float"
    if oid == BOOL_OID:
        return "bool"
    return "days" if oid in TIME_OIDS else "text"


def _read(plpy, wrapped: str, names: list[str], kinds: list[str], plain_text: bool
          ) -> tuple[dict[str, np.ndarray], int, dict[str, encode.Coded]] | None:
    """One scan of the query: a payload per column, or, with ``plain_text``, text
    columns as arrays that PL/Python converts value by value. None when a text
    payload does not split back into its rows."""
    select = ["count(*) AS n"]
    for i, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        col = f"q.{plpy.quote_ident(name)}"
        if kind == "bool":  # one character a row: a third cheaper than float8send
            select.append(f"string_agg(CASE WHEN {col} THEN '1' WHEN NOT {col} THEN '0'"
                          f" ELSE 'n' END, '') AS c{i}")
        elif kind == "float":
            select.append(f"{_float8_payload(col)} AS c{i}")
        elif kind == "days":
            select.append(f"{_float8_payload(f'extract(epoch FROM {col})')} AS c{i}")
        elif plain_text:
            select.append(f"array_agg({col}::text) AS c{i}")
        else:
            select.append(f"string_agg(coalesce({col}::text, E'\\x1e'), E'\\x1f') AS c{i}")
            select.append(f"count({col}) AS nn{i}")
    [row] = plpy.execute(f"SELECT {', '.join(select)} FROM ({wrapped}) AS q")
    n = int(row["n"])
    columns: dict[str, np.ndarray] = {}
    coded: dict[str, encode.Coded] = {}
    for i, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        payload = row[f"c{i}"]
        if kind == "bool":
            flags = np.frombuffer((payload or "").encode("ascii"), dtype=np.uint8)
            values = (flags == ord("1")).astype(np.float64)
            values[flags == ord("n")] = np.nan
            columns[name] = values
        elif kind not in ("text", "id"):
            values = np.frombuffer(payload or b"", dtype=">f8").astype(np.float64)
            columns[name] = values / SECONDS_PER_DAY if kind == "days" else values
        elif plain_text:
            columns[name] = np.empty(n, dtype=object)
            columns[name][:] = payload or []
        elif not _text_column(name, kind, payload or "", n, n - int(row[f"nn{i}"]),
                              columns, coded):
            return None
    return columns, n, coded


def _text_column(name: str, kind: str, payload: str | memoryview, n: int, nulls: int,
                 columns: dict[str, np.ndarray], coded: dict[str, encode.Coded]) -> bool:
    """A text payload into ``columns`` (and ``coded``); False when it does not split
    back into its ``n`` values (one of them holds a separator)."""
    text = text_payload.column(payload, n, nulls, coded=kind == "text")
    if text is None:
        return False
    if isinstance(text, encode.Coded):
        columns[name], coded[name] = text.column(), text
    else:
        columns[name] = text
    return True


# --- the native reader: ops.column_payloads ------------------------------------

# Types the aggregate turns into float8 itself; other numbers are cast in SQL.
NATIVE_FLOAT_OIDS = {20, 21, 23, 700, 701}
# An aggregate takes at most 100 arguments (FUNC_MAX_ARGS), one being its state.
NATIVE_MAX_COLUMNS = 99
_NATIVE_READER = (
    "SELECT CASE WHEN pg_catalog.has_schema_privilege('ops', 'USAGE') THEN ("
    " SELECT p.oid IS NOT NULL AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')"
    " FROM (SELECT pg_catalog.to_regprocedure('ops.column_payloads(\"any\")') AS oid) AS p"
    ") ELSE false END AND pg_catalog.current_setting('server_encoding') = 'UTF8' AS usable"
)


def _native_reader(plpy, columns: int) -> bool:
    """Whether ``ops.column_payloads`` (procedures/postgres/native, installed by
    ``sqlml deploy`` where it can build it) is there for the caller: then a query's
    rows cross in one transition per row, not one ``string_agg`` step per value.
    Asked on every call, as the caller: a deploy or a REVOKE changes the answer."""
    if columns > NATIVE_MAX_COLUMNS:
        return False
    return bool(plpy.execute(_NATIVE_READER)[0]["usable"])


def _native_parts(plpy, wrapped: str, names: list[str], types: list[int], kinds: list[str]
                  ) -> tuple[int, list[_Part]]:
    """One scan of the query through ``ops.column_payloads``: the row count and one part
    per column (layout: procedures/postgres/native/payloads.c)."""
    args = []
    for name, oid, kind in zip(names, types, kinds, strict=True):
        col = f"q.{plpy.quote_ident(name)}"
        if kind == "days":
            args.append(f"(extract(epoch FROM {col}))::pg_catalog.float8")
        elif kind == "float" and oid not in NATIVE_FLOAT_OIDS:
            args.append(f"({col})::pg_catalog.float8")
        elif kind in ("float", "bool"):
            args.append(col)
        else:
            args.append(f"({col})::pg_catalog.text")
    [row] = plpy.execute(f"SELECT pg_catalog.count(*) AS n, ops.column_payloads({', '.join(args)})"
                         f" AS p FROM ({wrapped}) AS q")
    return int(row["n"]), _unpack(row["p"], len(names)) if row["n"] else []


def _read_native(plpy, wrapped: str, names: list[str], types: list[int], kinds: list[str]
                 ) -> tuple[dict[str, np.ndarray], int, dict[str, encode.Coded]] | None:
    """:func:`_read` through ``ops.column_payloads``: the same values, from one payload
    per column, or from the column's codes where the aggregate coded it."""
    n, parts = _native_parts(plpy, wrapped, names, types, kinds)
    columns: dict[str, np.ndarray] = {}
    coded: dict[str, encode.Coded] = {}
    if not n:  # no rows, no aggregate state: the final function was not called
        empty = {"text": np.empty(0, dtype=object), "id": np.empty(0, dtype=object)}
        return {name: empty.get(kind, np.empty(0)) for name, kind in zip(names, kinds,
                                                                          strict=True)}, 0, {}
    for name, kind, part in zip(names, kinds, parts, strict=True):
        if part.codes is not None and n >= text_payload.MIN_ROWS:
            # Coded by the aggregate itself, as text_payload.code would have coded it.
            text = encode.Coded(part.values, part.codes.astype(np.intp))
            columns[name] = text.column()
            if kind == "text":
                coded[name] = text
        elif kind in ("text", "id"):
            if not _text_column(name, kind, part.payload, n, n - part.non_null, columns,
                                coded):
                return None
        else:
            values = np.frombuffer(part.payload, dtype=np.float64).copy()
            columns[name] = values / SECONDS_PER_DAY if kind == "days" else values
    return columns, n, coded


_HEADER, _COLUMN, _SIZE = struct.Struct("=iiq"), struct.Struct("=iiqq"), struct.Struct("=q")
LAYOUT = 2


@dataclass(frozen=True)
class _Part:
    """One column of ops.column_payloads' bytea."""

    non_null: int
    payload: memoryview  # float8s, or text values joined by SEPARATOR (empty when coded)
    values: list | None = None  # coded: distinct values, first appearance, None for NULL
    codes: np.ndarray | None = None  # coded: uint8, each row's position in values


def _unpack(blob: bytes, count: int) -> list[_Part]:
    """ops.column_payloads' bytea (layout: procedures/postgres/native/payloads.c) ->
    one part per column."""
    view = memoryview(blob)
    version, columns, rows = _HEADER.unpack_from(view, 0)
    if version != LAYOUT or columns != count:
        raise SqlmlError(f"ops.column_payloads returned layout {version} with {columns} "
                         f"columns, not layout {LAYOUT} with {count}: redeploy (sqlml deploy)")
    at, out = _HEADER.size, []
    for _ in range(count):
        _, distinct, non_null, size = _COLUMN.unpack_from(view, at)
        at += _COLUMN.size
        payload = view[at:at + size]
        at += size + (-size % 8)
        if distinct < 0:
            out.append(_Part(non_null, payload))
            continue
        [size] = _SIZE.unpack_from(view, at)
        at += _SIZE.size
        values = [None if v == NULL_MARK else v
                  for v in str(view[at:at + size], "utf-8").split(SEPARATOR)]
        at += size + (-size % 8)
        codes = np.frombuffer(view[at:at + rows], dtype=np.uint8)
        at += rows + (-rows % 8)
        out.append(_Part(non_null, payload, values, codes))
    return out


def rows(frame: pd.DataFrame) -> list[tuple]:
    """A frame as PL/Python's set-returning functions want it, NaN as NULL."""
    clean = frame.astype(object).where(frame.notna(), None)
    return list(clean.itertuples(index=False, name=None))


def runtime_info(plpy) -> list[tuple]:
    return rows(entrypoints.runtime_info())


# --- the two halves of a call ---------------------------------------------------


# run id -> the caller's input rows, read by stage_input, taken by the owner's half:
# a DataFrame (training, forecasting) or read_columns' arrays, count and coded text
# columns (scoring).
_STAGED: dict[int, object] = {}


@database_errors
def stage_input(plpy, run_id: int, input_query: str, id_column: str | None = None) -> None:
    """ops.stage_input: read the input query as the caller; keep the rows for the run.
    ``id_column`` given (scoring): the lean column read, that column as exact text;
    else a DataFrame. An error reading it (a cancel included) goes up to ops.call's
    handler, which records it in ops.runs without the data values it may quote."""
    # One call in progress stages at a time; a call that failed before taking its
    # input leaves nothing behind for long.
    _STAGED.clear()
    if id_column:
        _STAGED[run_id] = read_columns(plpy, input_query, exact=frozenset({id_column.lower()}))
    else:
        _STAGED[run_id] = read_query(plpy, input_query)


def staged(run_id: int):
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


def jit_off(plpy) -> None:
    """Before TensorFlow or statsforecast's numba is loaded into this backend: their LLVM
    and PostgreSQL's JIT cannot share a process (a JIT-compiled query then crashes the
    server; measured for both). Deploy turns JIT off for the database; this holds for a
    session that turned it on again."""
    plpy.execute("SELECT pg_catalog.set_config('jit', 'off', false)")


@database_errors
def train_staged(plpy, run_id: int, kind: str, spec: str, options: str | None) -> list[tuple]:
    """ops.python_step('train'): one row of the Keras bundle, the ONNX bundle, the registration."""
    frame = staged(run_id)
    jit_off(plpy)
    plpy.notice(f"sqlml: read {len(frame)} training rows")
    trained = entrypoints.train_model(kind, frame, json.loads(spec), options,
                                      progress=plpy.notice, interrupt=interrupt_hook(plpy))
    return [(trained.artifact, trained.onnx_artifact, trained.registration_json())]


@database_errors
def score_churn_staged(plpy, run_id: int, model_id: int, onnx_artifact: bytes,
                       onnx_sha256: str, explain: int | None = 0) -> int:
    """ops.python_step('score_churn'): score the columns ops.stage_input read (lean path) for
    the run and write them to predictions.churn_scores; with ``explain`` = k > 0, also
    each customer's k strongest reasons to predictions.churn_reasons, in the same
    (caller's) transaction, so a run that fails has neither. Returns the scores written."""
    from sqlml.kinds.churn import scoring

    # A bad blob fails here, before the staged rows are used; cached per session by sha256.
    scoring.scorer(onnx_artifact, onnx_sha256)
    columns, n, coded = staged(run_id)
    ids, probability = entrypoints.score_churn_columns(columns, n, onnx_artifact, onnx_sha256,
                                                       coded)
    written = write_scores(plpy, run_id, model_id, ids, probability)
    if explain:
        # Only now pandas and the explainer: explain = 0 keeps the lean path of before.
        reasons = entrypoints.explain_churn_columns(columns, n, onnx_artifact, onnx_sha256,
                                                    explain)
        write_reasons(plpy, run_id, reasons)
    return written


# --- the write of a scoring batch -------------------------------------------------

# PL/Python turns each element of a list it hands to SQL into text and parses it
# again (str(), then the type's input function), so two arrays of 200,000 values
# cost about 220 ms; two text payloads split by string_to_table cost a third of
# that. The scores travel as decimal text of their float32 values (see
# float4_text), which float4 input reads back to the very same number.
_SCORES_FROM_TEXT = (
    "INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)"
    " SELECT $1, $2, u.customer_id, u.churn_probability::pg_catalog.float4::pg_catalog.float8"
    " FROM ROWS FROM (pg_catalog.string_to_table($3, E'\\x1f'),"
    " pg_catalog.string_to_table($4, E'\\x1f')) AS u (customer_id, churn_probability)"
)
_SCORES_FROM_ARRAYS = (
    "INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)"
    " SELECT $1, $2, u.customer_id, u.churn_probability"
    " FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]),"
    " pg_catalog.unnest($4::pg_catalog.float8[])) AS u (customer_id, churn_probability)"
)
# With the native payload functions (procedures/postgres/native/payloads.c): the ids
# as the same text payload, the scores as 8 bytes each, both turned back into rows
# in the SELECT list, a value per call, with no tuplestore and no score printed and
# parsed (200,000 rows: about 0.07 s less). Each function ends with its payload, so
# payloads of unequal length would pad with NULL, which the NOT NULL columns refuse.
_SCORES_FROM_PAYLOADS = (
    "INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)"
    " SELECT $1, $2, ops.payload_texts($3), ops.payload_float8s($4)"
)
_NATIVE_WRITER = (
    "SELECT pg_catalog.to_regprocedure('ops.payload_float8s(bytea)') IS NOT NULL"
    " AND pg_catalog.to_regprocedure('ops.payload_texts(text)') IS NOT NULL AS usable"
)
# Prepared once per session (PL/Python keeps this module for the session's life).
_plans: dict[str, object] = {}


def _plan(plpy, sql: str, types: list[str]):
    plan = _plans.get(sql)
    if plan is None:
        plan = _plans[sql] = plpy.prepare(sql, types)
    return plan


def float4_text(values: np.ndarray) -> str | None:
    """Probabilities as decimal text joined by SEPARATOR, each read back by float4
    input as exactly the float32 it came from (then widened to float8 exactly, as
    ``Scorer.predict`` widens it), formatted by NumPy in a few milliseconds where
    ``repr`` per value takes a hundred. None when a value is not a float32 in [0, 1]
    (the caller then sends arrays).

    Each value is written as an integer of 9 to 11 significant digits times a power
    of ten: ``m e-NN``. Nine digits are within 5e-9 of the value, relative; normal
    float32 values are at least 6e-8 apart, relative (subnormal ones further), so the
    correctly rounded float4 input comes back to the same float32 whatever the float64
    arithmetic here adds (about 1e-16). tests/test_churn_postgres.py checks it on the
    server, powers of ten and their neighbours included.
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        return ""
    if not (np.all(v >= 0.0) and np.all(v <= 1.0)):  # NaN fails both
        return None
    if not np.array_equal(v.astype(np.float32).astype(np.float64), v):
        return None
    positive = v > 0.0
    safe = np.where(positive, v, 1.0)
    # floor(log10) may be off by one at a power of ten: then the integer has 9 or
    # 11 digits instead of 10, still enough, and the width below holds 11.
    exp10 = np.floor(np.log10(safe)).astype(np.int64)
    mantissa = np.rint(safe * 10.0 ** (9 - exp10)).astype(np.int64)
    power = 9 - exp10  # the value is mantissa * 10 ** -power; power is 8 .. 55
    mantissa[~positive] = 0
    power[~positive] = 0
    digits = 11
    out = np.empty((n, digits + 5), dtype=np.uint8)
    rest = mantissa.copy()
    for i in range(digits - 1, -1, -1):
        out[:, i] = rest % 10 + 48
        rest //= 10
    out[:, digits] = ord("e")
    out[:, digits + 1] = ord("-")
    out[:, digits + 2] = power // 10 + 48
    out[:, digits + 3] = power % 10 + 48
    out[:, digits + 4] = ord(SEPARATOR)
    return out.tobytes()[:-1].decode("ascii")


def write_scores(plpy, run_id: int, model_id: int, ids: list[str],
                 probability: np.ndarray) -> int:
    """INSERT one scoring batch into predictions.churn_scores, in the caller's
    transaction; returns the rows written."""
    id_text = SEPARATOR.join(ids)
    # Text payloads when they split back into the same rows: no id holds the
    # separator (read_columns' plain fallback lets such ids through), and one empty
    # id is not an empty payload.
    as_text = id_text.count(SEPARATOR) == max(len(ids) - 1, 0) and (id_text or not ids)
    if as_text and id_text and plpy.execute(_NATIVE_WRITER)[0]["usable"]:
        plan = _plan(plpy, _SCORES_FROM_PAYLOADS, ["bigint", "bigint", "text", "bytea"])
        values = np.ascontiguousarray(probability, dtype=np.float64).tobytes()
        result = plpy.execute(plan, [run_id, model_id, id_text, values])
    elif as_text and (scores := float4_text(probability)) is not None:
        plan = _plan(plpy, _SCORES_FROM_TEXT, ["bigint", "bigint", "text", "text"])
        result = plpy.execute(plan, [run_id, model_id, id_text, scores])
    else:
        plan = _plan(plpy, _SCORES_FROM_ARRAYS, ["bigint", "bigint", "text[]", "float8[]"])
        result = plpy.execute(plan, [run_id, model_id, ids, probability.tolist()])
    return result.nrows()


_REASONS_FROM_ARRAYS = (
    "INSERT INTO predictions.churn_reasons"
    " (run_id, customer_id, rank, feature, feature_value, contribution)"
    " SELECT $1, u.customer_id, u.rank, u.feature, u.feature_value, u.contribution"
    " FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]),"
    " pg_catalog.unnest($3::pg_catalog.int4[]), pg_catalog.unnest($4::pg_catalog.text[]),"
    " pg_catalog.unnest($5::pg_catalog.text[]), pg_catalog.unnest($6::pg_catalog.float8[]))"
    " AS u (customer_id, rank, feature, feature_value, contribution)"
)


def write_reasons(plpy, run_id: int, reasons: pd.DataFrame) -> int:
    """INSERT a scoring run's reasons into predictions.churn_reasons, in the caller's
    transaction; returns the rows written. Arrays, not text payloads: explaining a row
    costs hundreds of model evaluations, so converting its k reasons is noise."""
    if reasons.empty:
        return 0
    plan = _plan(plpy, _REASONS_FROM_ARRAYS,
                 ["bigint", "text[]", "int4[]", "text[]", "text[]", "float8[]"])
    return plpy.execute(plan, [
        run_id, reasons["customer_id"].tolist(), reasons["rank"].tolist(),
        reasons["feature"].tolist(), reasons["feature_value"].tolist(),
        reasons["contribution"].tolist()]).nrows()


@database_errors
def forecast_staged(plpy, run_id: int, onnx_artifact: bytes, onnx_sha256: str,
                    horizon: int | None) -> list[tuple]:
    frame = staged(run_id)
    jit_off(plpy)  # the chosen base may be a statsforecast model, compiled by numba
    out = entrypoints.forecast(frame, onnx_artifact, onnx_sha256, horizon)
    # ISO timestamps: PL/Python hands text to the timestamp input function.
    out["period"] = out["period"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return rows(out)


def drift_staged(plpy, run_id: int, profile: dict | str | None) -> list[tuple]:
    """ops.python_step('drift'): the rows staged for the run (read once, with the caller's
    rights, for scoring or forecasting too) against the version's training profile;
    rows of feature, psi, flagged, detail (JSON text). Leaves the rows staged for the
    owner's half that follows. Never raises: a run is not failed by its drift."""
    data = _STAGED.get(run_id)
    if data is None:
        return [("*", None, False, json.dumps({"error": f"run {run_id} has no staged input"}))]
    if isinstance(data, tuple):  # scoring's columns: NumPy only, no pandas
        columns, n, coded = data
        out = entrypoints.drift_column_rows(columns, n, profile, coded)
    else:
        out = rows(entrypoints.drift(data, profile))
    flagged = [feature for feature, _, is_flagged, _ in out if is_flagged]
    if flagged:
        plpy.notice(f"sqlml: input drift past PSI {_threshold(profile)} in: "
                    f"{', '.join(flagged)} (see models.drift)")
    return out


def _threshold(profile: dict | str | None) -> float:
    from sqlml.kinds.drift_columns import PSI_THRESHOLD

    try:
        if not isinstance(profile, dict):
            profile = json.loads(profile or "{}")
        return float(profile.get("threshold", PSI_THRESHOLD))
    except (TypeError, ValueError, AttributeError):
        return PSI_THRESHOLD
