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
from sqlml.kinds import keys
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
TIMESTAMPTZ_OID = 1184
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
    second statement or a data-modifying one is a syntax error, not an action.
    Whether it is one statement is the parser's to say (:func:`check_query`)."""
    if query is None or not query.strip():
        raise InputError("input_query is empty")
    body = re.sub(r"[;\s]+$", "", query.strip())
    return f"SELECT * FROM (\n{body}\n) AS sqlml_input"


def caller_plan(plpy, sql: str):
    """``sql``, a text that holds the caller's query, prepared (parsed and analysed,
    nothing run). The readers run only texts that :func:`check_query` has found to be
    one statement, and run them as plans."""
    return plpy.prepare(sql)


SYNTAX_ERROR = "42601"


def check_query(plpy, query: str) -> str:
    """The caller's query as the wrapped text the readers embed, once PostgreSQL's
    parser has said it is exactly one SELECT statement: it parses alone (so its
    parentheses, quotes and comments close inside it), and as a derived table, where
    only one query can stand: a second statement, or a statement that is not a
    query, is a syntax error there. Neither check runs anything."""
    wrapped = wrap_query(query)
    caller_plan(plpy, query)  # its own errors, positioned in the caller's text
    try:
        caller_plan(plpy, wrapped)
    except plpy.SPIError as exc:
        if getattr(exc, "sqlstate", None) == SYNTAX_ERROR:
            raise InputError("input_query must be exactly one query (one SELECT statement): "
                             "PostgreSQL reads it as more than one statement, or as a "
                             "statement that returns no query's rows") from None
        raise
    return wrapped


def _execute(plpy, sql: str):
    return plpy.execute(caller_plan(plpy, sql))


# Column types no reader takes, by pg_type.typcategory: arrays, composites and
# pseudo-types, and bytea (whose bytes are no text). Everything else crosses as a
# number, a boolean, a date or text.
REFUSED_CATEGORIES = {"A", "C", "P"}
BYTEA_OID = 17
ACCEPTED_TYPES = ("numbers (smallint, integer, bigint, real, double precision, numeric), "
                  "boolean, date, timestamp, timestamptz and text (or types cast to text)")
# Key columns: integers and numeric (as their exact digits), uuid, and every string
# type (typcategory S: text, varchar, char, name, citext, domains over them).
KEY_OIDS = {20, 21, 23, NUMERIC_OID, 25, 1043, 1042, 19, 2950, 705}
_TYPES = ("SELECT t.oid AS oid, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END"
          " AS base, t.typcategory AS category, pg_catalog.format_type(t.oid, NULL) AS name"
          " FROM pg_catalog.pg_type AS t WHERE t.oid = ANY($1)")


def _base_types(plpy, names: list[str], types: list[int], exact: frozenset[str]) -> list[int]:
    """Each column's type (a domain's base type), after refusing, by the column's name,
    a type no reader takes (bytea, arrays, ...) or a key of a type that has no exact
    text (a date, a boolean, a float)."""
    found = {r["oid"]: r for r in plpy.execute(_plan(plpy, _TYPES, ["oid[]"]), [list(set(types))])}
    base = []
    for name, oid in zip(names, types, strict=True):
        row = found.get(oid)
        if row is None or row["category"] in REFUSED_CATEGORIES or row["base"] == BYTEA_OID:
            shown = row["name"] if row else f"type {oid}"
            raise InputError(f"column {name!r} is {shown}, which sqlml does not read: input "
                             f"columns must be {ACCEPTED_TYPES}; cast or leave it out in the "
                             "input query")
        if name.lower() in exact and row["base"] not in KEY_OIDS and row["category"] != "S":
            raise InputError(f"column {name!r} is {row['name']}: keys must be {keys.ACCEPTED}, "
                             "and come back exactly as they went in; cast it in the input query")
        base.append(row["base"])
    return base


def _describe(plpy, wrapped: str, exact: frozenset[str] = frozenset()
              ) -> tuple[list[str], list[int]]:
    # A LIMIT 0 run gives the column names and types (and plans the query)
    # without reading a row.
    meta = _execute(plpy, f"{wrapped} LIMIT 0")
    names, types = meta.colnames(), meta.coltypes()
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"input_query returns column {repeated[0]!r} more than once: "
                         "alias one of them")
    if not names:
        raise InputError("input_query returns no columns")
    return names, _base_types(plpy, names, types, exact)


def read_query(plpy, query: str, exact: frozenset[str] = frozenset()) -> pd.DataFrame:
    """The caller's query as a DataFrame. Columns named in ``exact`` (lower-case: the
    keys) come back as their exact text; dates and timestamps as naive datetimes,
    timestamptz as UTC datetimes (both read as microseconds, whatever DateStyle)."""
    import pandas as pd

    wrapped = check_query(plpy, query)
    names, types = _describe(plpy, wrapped, exact)
    # One row of one array per column: PL/Python converts arrays to lists in C,
    # about five times faster than building a dict per row (100k rows: 0.15 s
    # against 0.7 s). All aggregates of one scan see the rows in the same order.
    quote = plpy.quote_ident
    select = []
    for i, (name, oid) in enumerate(zip(names, types, strict=True)):
        col = f"q.{quote(name)}"
        if name.lower() in exact:
            select.append(f"array_agg({col}::pg_catalog.text) AS c{i}")
        elif oid in TIME_OIDS:
            select.append(f"array_agg(CASE WHEN pg_catalog.isfinite({col}) THEN"
                          f" (extract(epoch FROM {col}) * 1000000)::pg_catalog.int8 END) AS c{i},"
                          f" count(*) FILTER (WHERE NOT pg_catalog.isfinite({col})) AS inf{i}")
        else:
            select.append(f"array_agg({col}) AS c{i}")
    [row] = _execute(plpy, f"SELECT count(*) AS n, {', '.join(select)} FROM ({wrapped}) AS q")
    return pd.DataFrame({
        name: (pd.Series(row[f"c{i}"] or [], dtype=object) if name.lower() in exact
               else _column(name, row[f"c{i}"] or [], oid, row.get(f"inf{i}")))
        for i, (name, oid) in enumerate(zip(names, types, strict=True))
    })


def _column(name: str, values: list, oid: int, infinite: int | None = None) -> pd.Series:
    import pandas as pd

    if oid in FLOAT_OIDS:
        return pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64")
    if oid in INT_OIDS:
        if any(v is None for v in values):
            return pd.Series([np.nan if v is None else float(v) for v in values],
                             dtype="float64")
        return pd.Series(values, dtype="int64")
    if oid in TIME_OIDS:
        if infinite:
            raise InputError(f"column {name!r} holds {infinite} infinite date(s) or "
                             "timestamp(s); dates must be finite or NULL")
        micros = pd.array(values, dtype="Int64")
        stamps = pd.to_datetime(micros, unit="us", utc=oid == TIMESTAMPTZ_OID)
        return pd.Series(stamps)
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
    wrapped = check_query(plpy, query)
    names, types = _describe(plpy, wrapped, exact)
    kinds = [_kind(name, oid, exact) for name, oid in zip(names, types, strict=True)]
    if _native_reader(plpy, len(names)):
        read = _read_native(plpy, wrapped, names, types, kinds)
    else:
        read = _read(plpy, wrapped, names, types, kinds, plain_text=False)
    if read is None:
        # A text value holds a separator. Every column is read again, in one scan, so
        # that all of them see the rows in the same order: a query without ORDER BY
        # may return its rows in another order the second time it runs.
        read = _read(plpy, wrapped, names, types, kinds, plain_text=True)
    return read


def _kind(name: str, oid: int, exact: frozenset[str]) -> str:
    """How a column crosses: float, bool, days, text, or id (text, one value a row)."""
    if name.lower() in exact:  # a key type (_base_types refused the others)
        return "id"
    if oid in FLOAT_OIDS | INT_OIDS:
        return "float"
    if oid == BOOL_OID:
        return "bool"
    return "days" if oid in TIME_OIDS else "text"


def _in_float8(col: str, oid: int) -> str:
    """A number as float8 text of SQL: a NUMERIC past float8's range (or infinite) is
    held at 1e300, which scoring refuses naming the column, rather than failing the
    cast with an error that names nothing."""
    if oid != NUMERIC_OID:
        return col
    return (f"CASE WHEN pg_catalog.abs({col}) > 1e300 THEN pg_catalog.sign({col}) * 1e300"
            f" ELSE {col} END")


def _read(plpy, wrapped: str, names: list[str], types: list[int], kinds: list[str],
          plain_text: bool) -> tuple[dict[str, np.ndarray], int, dict[str, encode.Coded]] | None:
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
            select.append(f"{_float8_payload(_in_float8(col, types[i]))} AS c{i}")
        elif kind == "days":
            select.append(f"{_float8_payload(f'extract(epoch FROM {col})')} AS c{i}")
        elif plain_text:
            select.append(f"array_agg({col}::text) AS c{i}")
        else:
            select.append(f"string_agg(coalesce({col}::text, E'\\x1e'), E'\\x1f') AS c{i}")
            select.append(f"count({col}) AS nn{i}")
    [row] = _execute(plpy, f"SELECT {', '.join(select)} FROM ({wrapped}) AS q")
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
            args.append(f"({_in_float8(col, oid)})::pg_catalog.float8")
        elif kind in ("float", "bool"):
            args.append(col)
        else:
            args.append(f"({col})::pg_catalog.text")
    payloads = f"ops.column_payloads({', '.join(args)})"
    [row] = _execute(plpy, f"SELECT pg_catalog.count(*) AS n, {payloads} AS p"
                           f" FROM ({wrapped}) AS q")
    return int(row["n"]), _unpack(row["p"], len(names)) if row["n"] else []


def _read_native(plpy, wrapped: str, names: list[str], types: list[int], kinds: list[str]
                 ) -> tuple[dict[str, np.ndarray], int, dict[str, encode.Coded]] | None:
    """:func:`_read` through ``ops.column_payloads``: the same values, from one payload
    per column, or from the column's codes where the aggregate coded it."""
    n, parts = _native_parts(plpy, wrapped, names, types, kinds)
    return _native_columns(n, parts, names, kinds)


def _native_columns(n: int, parts: list[_Part], names: list[str], kinds: list[str]
                    ) -> tuple[dict[str, np.ndarray], int, dict[str, encode.Coded]] | None:
    """``n`` rows' payloads (one part per column) as :func:`_read` gives them; None when
    a text payload does not split back into its rows."""
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
# a DataFrame (training), one postgres_series.SeriesBatch (forecasting) or one
# postgres_batches.Batch (scoring).
_STAGED: dict[int, object] = {}
# run id -> scoring's cursor over the caller's query (postgres_batches.BatchReader),
# read by the caller's half only; and what the owner's half carries from one batch
# to the next (ScoringRun).
_READERS: dict[int, object] = {}
_SCORING: dict[int, ScoringRun] = {}
# run id -> scoring's input drift so far (kinds.drift_columns.Tally), batch by batch.
_DRIFT: dict[int, object] = {}


@dataclass
class ScoringRun:
    """A batched scoring run so far: its model version (the same for every batch)
    and the rows written."""

    model_id: int
    onnx_sha256: str
    written: int = 0


@database_errors
def stage_input(plpy, run_id: int, input_query: str, id_column: str | None = None,
                batched: bool = False) -> None:
    """ops.stage_input: read the input query as the caller; keep the rows for the run.
    ``id_column`` given (scoring): the lean column read, that column as exact text;
    else a DataFrame. An error reading it (a cancel included) goes up to ops.call's
    handler, which records it in ops.runs without the data values it may quote."""
    # One call in progress stages at a time; a call that failed before taking its
    # input leaves nothing behind for long.
    _STAGED.clear()
    if input_query is None:  # scoring's next batch (ops.call's loop)
        reader = _READERS.get(run_id)
        if reader is None:
            raise InputError(f"run {run_id} has no input being read in this session: "
                             "call the ml routine, which reads it")
        _STAGED[run_id] = reader.next(plpy)
        return
    _READERS.clear()
    _SCORING.clear()
    _DRIFT.clear()
    if id_column and not batched:  # ml.predict: its input at once (not batched yet)
        _STAGED[run_id] = read_columns(plpy, input_query, exact=frozenset({id_column.lower()}))
        return
    if id_column:
        from sqlml.adapters.postgres_batches import BatchReader

        # In batches (adapters/postgres_batches.py): memory holds a batch, not the table.
        reader = _READERS[run_id] = BatchReader(plpy, run_id, input_query,
                                                frozenset({id_column.lower()}))
        _STAGED[run_id] = reader.next(plpy)
        return
    from sqlml.adapters import postgres_batches, postgres_series

    forecast = postgres_series.forecast_input(plpy, run_id)
    reader = forecast and postgres_series.reader(plpy, run_id, input_query, *forecast,
                                                 exact=_key_columns(plpy))
    sample = None if forecast else postgres_batches.training_sample(plpy, run_id)
    if reader:  # ml.forecast: a batch of whole series at a time (adapters/postgres_series.py)
        _READERS[run_id] = reader
        _STAGED[run_id] = reader.next(plpy)
    elif sample is not None:  # churn training: past the spec's limit, a stratified sample
        _STAGED[run_id] = postgres_batches.read_training(plpy, run_id, input_query, *sample)
    else:
        _STAGED[run_id] = read_query(plpy, input_query, exact=_key_columns(plpy))


# The key columns the specs name (churn's customer id, the forecaster's series id),
# read as the caller: operators may read models.specs.
_KEY_COLUMNS = (
    "SELECT pg_catalog.array_agg(DISTINCT pg_catalog.lower(k.name)) AS names"
    " FROM models.specs AS s, LATERAL (VALUES (s.spec #>> '{input,id_column}'),"
    " (s.spec #>> '{input,series_id_column}')) AS k (name) WHERE k.name IS NOT NULL"
)


def _key_columns(plpy) -> frozenset[str]:
    """Columns a training or forecasting read keeps as exact text: every spec's key."""
    return frozenset(plpy.execute(_KEY_COLUMNS)[0]["names"] or ())


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
def check_options(plpy, kind: str, spec: str, options: str | None) -> None:
    """ops.check_options: training's option checks, before the input is read."""
    entrypoints.check_options(kind, json.loads(spec), options)


@database_errors
def train_staged(plpy, run_id: int, kind: str, spec: str, options: str | None,
                 champion: dict | None = None) -> list[tuple]:
    """ops.python_step('train'): one row of the Keras bundle, the ONNX bundle, the registration.
    ``champion``: the active version (model_id, version, onnx_artifact, onnx_sha256), measured
    on the new version's held-out rows for the activation rule (``kinds.champion``)."""
    frame, sample = staged(run_id), None
    if isinstance(frame, tuple):  # postgres_batches.read_training: (frame, what was sampled)
        frame, sample = frame
    jit_off(plpy)
    plpy.notice(f"sqlml: read {len(frame)} training rows")
    if sample is not None:
        plpy.notice(f"sqlml: training on a sample of {sample['rows']} of {sample['of']} rows,"
                    f" stratified by {sample['stratified_by']} (limits.max_training_rows)")
    trained = entrypoints.train_model(kind, frame, json.loads(spec), options,
                                      progress=plpy.notice, interrupt=interrupt_hook(plpy),
                                      champion=champion)
    if sample is not None:  # the registry says what the version was trained on
        trained.registration["metrics"]["sample"] = sample
    return [(trained.artifact, trained.onnx_artifact, trained.registration_json())]


@database_errors
def score_churn_staged(plpy, run_id: int, model_id: int, onnx_artifact: bytes,
                       onnx_sha256: str, explain: int | None = 0) -> tuple[int, bool]:
    """ops.python_step('score_churn'): score the batch ops.stage_input read for the run
    and write it to predictions.churn_scores; with ``explain`` = k > 0, also each
    customer's k strongest reasons to predictions.churn_reasons, in the same
    (caller's) transaction, so a run that fails has neither. Returns the scores
    written by the run so far, and whether another batch follows."""
    from sqlml.kinds.churn import scoring

    # A bad blob fails here, before the staged rows are used; cached per session by sha256.
    scoring.scorer(onnx_artifact, onnx_sha256)
    batch = staged(run_id)
    run = _scoring_run(run_id, model_id, onnx_sha256)
    ids, probability = entrypoints.score_churn_columns(batch.columns, batch.n, onnx_artifact,
                                                       onnx_sha256, batch.coded)
    run.written += write_scores(plpy, run_id, model_id, ids, probability)
    if explain:
        # Only now pandas and the explainer: explain = 0 keeps the lean path of before.
        reasons = entrypoints.explain_churn_columns(batch.columns, batch.n, onnx_artifact,
                                                    onnx_sha256, explain)
        write_reasons(plpy, run_id, reasons)
    if batch.number > 1 or not batch.last:
        plpy.notice(f"sqlml: scored {run.written} rows (batch {batch.number})")
    if batch.last:
        if batch.number > 1:
            _check_unique_ids(plpy, run_id, scoring.SCORING)
        _SCORING.pop(run_id, None)
    return run.written, not batch.last


def _scoring_run(run_id: int, model_id: int, onnx_sha256: str) -> ScoringRun:
    run = _SCORING.get(run_id)
    if run is None:
        run = _SCORING[run_id] = ScoringRun(model_id, onnx_sha256)
    if (run.model_id, run.onnx_sha256) != (model_id, onnx_sha256):
        # ops.run_predict holds the version's registry row FOR SHARE, so this is a
        # defect, not a race; still, one run never mixes two versions' scores.
        raise InputError(f"run {run_id} began with model id {run.model_id} and would "
                         f"go on with {model_id}: one run scores with one version")
    return run


_DUPLICATE_IDS = (
    "SELECT s.customer_id, pg_catalog.count(*) OVER () AS ids FROM predictions.churn_scores AS s"
    " WHERE s.run_id = $1 GROUP BY s.customer_id HAVING pg_catalog.count(*) > 1 LIMIT 1"
)


def _check_unique_ids(plpy, run_id: int, what: str) -> None:
    """Each customer once per run, across batches too (each batch checks its own rows
    as it is scored); the run's rows are counted in SQL, whose hash aggregate spills
    to disk past work_mem, so the check holds no set of the table's ids."""
    plan = _plan(plpy, _DUPLICATE_IDS, ["bigint"])
    found = plpy.execute(plan, [run_id])
    if found.nrows():
        first = found[0]["customer_id"]
        raise InputError(f"{what}: column 'customer_id' has duplicates ({first!r} and "
                         f"{int(found[0]['ids']) - 1} more) across batches; each customer "
                         "is scored once per run")


@database_errors
def preview_churn_staged(plpy, run_id: int, onnx_artifact: bytes, onnx_sha256: str,
                         explain: int | None = 0) -> list[tuple]:
    """ops.python_step('preview_churn'): score the staged rows as
    :func:`score_churn_staged` does and hand them back, writing nothing: rows of
    customer_id, churn_probability, reasons (JSON text, NULL for ``explain`` 0)."""
    from sqlml.kinds.churn import scoring

    scoring.scorer(onnx_artifact, onnx_sha256)
    batch = staged(run_id)
    if not batch.last:  # what-if scoring is for a few rows: it keeps them all to return
        raise InputError(
            f"ml.score_churn_preview scores at most one batch of rows ({batch.n:,}, the "
            "spec's scoring.batch_rows); score more with ml.score_churn")
    columns, n, coded = batch.columns, batch.n, batch.coded
    ids, probability = entrypoints.score_churn_columns(columns, n, onnx_artifact, onnx_sha256,
                                                       coded)
    reasons: dict[str, list[dict]] = {}
    if explain:
        explained = entrypoints.explain_churn_columns(columns, n, onnx_artifact, onnx_sha256,
                                                      explain)
        for row in explained.sort_values(["customer_id", "rank"]).itertuples(index=False):
            reasons.setdefault(str(row.customer_id), []).append({
                "rank": int(row.rank), "feature": str(row.feature),
                "feature_value": None if row.feature_value is None else str(row.feature_value),
                "contribution": float(row.contribution)})
    return [(customer, float(p),
             json.dumps(reasons.get(customer, [])) if explain else None)
            for customer, p in zip(ids, probability, strict=True)]


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
    from sqlml.adapters import postgres_series

    frame, batch = postgres_series.forecast_batch(staged(run_id))
    jit_off(plpy)  # the chosen base may be a statsforecast model, compiled by numba
    out = entrypoints.forecast(frame, onnx_artifact, onnx_sha256, horizon)
    # ISO timestamps: PL/Python hands text to the timestamp input function.
    out["period"] = out["period"].dt.strftime("%Y-%m-%d %H:%M:%S")
    postgres_series.forecast_done(plpy, run_id, batch)
    return rows(out)


def drift_staged(plpy, run_id: int, profile: dict | str | None) -> list[tuple]:
    """ops.python_step('drift'): the rows staged for the run (read once, with the caller's
    rights, for scoring or forecasting too) against the version's training profile;
    rows of feature, psi, flagged, detail (JSON text). Leaves the rows staged for the
    owner's half that follows. Never raises: a run is not failed by its drift."""
    data = _STAGED.get(run_id)
    if data is None:
        return [("*", None, False, json.dumps({"error": f"run {run_id} has no staged input"}))]
    if hasattr(data, "frame"):  # a batch of whole series: their stats kept, compared at the end
        from sqlml.kinds.drift_series import SeriesTally

        tally = _DRIFT.setdefault(run_id, SeriesTally(profile))
        tally.add(data.frame)
        if not data.last:
            return []
        out = rows(_DRIFT.pop(run_id).frame())
    elif hasattr(data, "last"):  # a scoring batch: NumPy only, no pandas; counted batch by batch
        from sqlml.kinds.drift_columns import Tally

        tally = _DRIFT.setdefault(run_id, Tally(profile))
        tally.add(data.columns, data.n, data.coded)
        if not data.last:
            return []
        out = _DRIFT.pop(run_id).rows()
    elif isinstance(data, tuple):  # ml.predict's columns at once (read_columns): NumPy only
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


@database_errors
def evaluate_staged(plpy, run_id: int, kind: str, onnx_artifact: bytes, params: dict
                    ) -> list[tuple]:
    """ops.python_step('evaluate'): one row of the rows compared and the realised
    metrics (JSON) of the caller's rows against one version (``kinds.evaluation``).
    params: onnx_sha256, recorded (the version's validation metrics), spec_input
    (churn); forecasts (the version's latest forecast of each period, as JSON rows)
    and season (forecaster)."""
    import pandas as pd

    frame = staged(run_id)
    if kind == "churn":
        n, metrics = entrypoints.evaluate_churn(frame, onnx_artifact, params["onnx_sha256"],
                                                params["recorded"], params["spec_input"])
    else:
        forecasts = pd.DataFrame(params.get("forecasts") or [],
                                 columns=["series_id", "period", "forecast", "lower", "upper"])
        n, metrics = entrypoints.evaluate_forecaster(frame, forecasts, params["season"])
    return [(n, json.dumps(metrics))]
