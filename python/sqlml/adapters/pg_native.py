"""The native reader of the PostgreSQL adapter: ``ops.column_payloads``, the C aggregate
of procedures/postgres/native (installed by ``sqlml deploy`` where it can build it),
and the layout of the bytea it returns, which scoring's batches
(``ops.cursor_payloads``, adapters/postgres_batches.py) share.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from sqlml.adapters import text_payload
from sqlml.adapters.pg_reader import (
    SECONDS_PER_DAY,
    _execute,
    _in_float8,
    _text_column,
    nan_at,
    refuse_nan,
)
from sqlml.adapters.text_payload import NULL_MARK, SEPARATOR
from sqlml.entrypoints import Coded
from sqlml.errors import SqlmlError

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
    found = nan_at(plpy, names, types, kinds)
    nans = f", pg_catalog.min({found}) AS nan_at" if found else ""
    [row] = _execute(plpy, f"SELECT pg_catalog.count(*) AS n, {payloads} AS p{nans}"
                           f" FROM ({wrapped}) AS q")
    refuse_nan(names, row.get("nan_at"))
    return int(row["n"]), _unpack(row["p"], len(names)) if row["n"] else []


def _read_native(plpy, wrapped: str, names: list[str], types: list[int], kinds: list[str]
                 ) -> tuple[dict[str, np.ndarray], int, dict[str, Coded]] | None:
    """:func:`_read` through ``ops.column_payloads``: the same values, from one payload
    per column, or from the column's codes where the aggregate coded it."""
    n, parts = _native_parts(plpy, wrapped, names, types, kinds)
    return _native_columns(n, parts, names, kinds)


def _native_columns(n: int, parts: list[_Part], names: list[str], kinds: list[str]
                    ) -> tuple[dict[str, np.ndarray], int, dict[str, Coded]] | None:
    """``n`` rows' payloads (one part per column) as :func:`_read` gives them; None when
    a text payload does not split back into its rows."""
    columns: dict[str, np.ndarray] = {}
    coded: dict[str, Coded] = {}
    if not n:  # no rows, no aggregate state: the final function was not called
        empty = {"text": np.empty(0, dtype=object), "id": np.empty(0, dtype=object)}
        return {name: empty.get(kind, np.empty(0)) for name, kind in zip(names, kinds,
                                                                          strict=True)}, 0, {}
    for name, kind, part in zip(names, kinds, parts, strict=True):
        if part.codes is not None and n >= text_payload.MIN_ROWS:
            # Coded by the aggregate itself, as text_payload.code would have coded it.
            text = Coded(part.values, part.codes.astype(np.intp))
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
