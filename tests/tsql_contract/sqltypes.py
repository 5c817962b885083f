"""What SQL Server hands the Python of sp_execute_external_script, and what it takes back.

Two runtimes run ``@language`` Python for SQL Server, and they build ``InputDataSet``
differently, so the harness can build it either way (a *profile*):

``ml_services``
    Machine Learning Services (SQL Server 2017-2022, revoscalepy). Microsoft's
    documented mapping, learn.microsoft.com/sql/machine-learning/python/
    python-libraries-and-data-types: bigint -> float64, bit -> bool, smallint and
    tinyint -> int32, float and real -> float64, char/varchar/nchar/nvarchar and
    uniqueidentifier -> str, binary/varbinary -> bytes, date/datetime/smalldatetime
    -> datetime. "Other data types are not supported": datetime2, datetimeoffset,
    time, decimal, numeric and money must be CAST in the input query. The table
    omits int; we take it as int32 like smallint. It does not say how NULLs arrive;
    we take the strict reading that SQL's NULL makes a numeric column float64 with
    NaN and any other column an object column with None.

``language_extension``
    The open-source Python language extension (microsoft/sql-server-language-
    extensions, language-extensions/python/src/PythonDataSet.cpp at commit
    e3f1502, the one docker/mssql builds): int -> int32, bigint -> int64, smallint
    -> int16, tinyint -> uint8, real -> float32, float -> float64, and any of them
    float64 with NaN once a NULL is present; bit -> bool (object with None when
    NULLs are present); strings -> object of str/None; binary -> object of
    bytes/None; date -> datetime.date, datetime/datetime2/smalldatetime ->
    datetime.datetime, None for NULL. Decimal, numeric, money, time,
    datetimeoffset and uniqueidentifier have no mapping there: CAST them.

Either way the columns become ``DataFrame(columns, copy=False)``, so pandas' own
inference applies on top (pandas 3 turns object columns of str into its ``str``
dtype, with NaN for NULL), exactly as in the server.

What comes back is held to the stricter of the two, the language extension's
output path (PythonDataSet.cpp, PopulateColumnDataType and the Retrieve*
functions): every column must have a NumPy dtype it maps (bool, uint8, int16,
int32, int64, float32, float64, datetime64[ns], object, bytes), must convert with
``np.array(column, copy=False)``, and object columns are sent as text, so a NULL
there must be None (a NaN would arrive as the string 'nan').
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .tsql import SqlType

PROFILES = ("ml_services", "language_extension")

INTEGER_TYPES = {"BIGINT", "INT", "SMALLINT", "TINYINT"}
FLOAT_TYPES = {"FLOAT", "REAL"}
STRING_TYPES = {"CHAR", "NCHAR", "VARCHAR", "NVARCHAR", "UNIQUEIDENTIFIER", "SYSNAME"}
BINARY_TYPES = {"BINARY", "VARBINARY"}
DATE_TYPES = {"DATE", "DATETIME", "DATETIME2", "SMALLDATETIME", "DATETIMEOFFSET"}
INTEGER_RANGE = {
    "TINYINT": (0, 255),
    "SMALLINT": (-(2**15), 2**15 - 1),
    "INT": (-(2**31), 2**31 - 1),
    "BIGINT": (-(2**63), 2**63 - 1),
    "BIT": (0, 1),
}

# SQL type -> NumPy dtype of a column without NULLs, per profile.
_NUMERIC_INPUT = {
    "ml_services": {
        "BIGINT": "float64", "INT": "int32", "SMALLINT": "int32", "TINYINT": "int32",
        "FLOAT": "float64", "REAL": "float64",
    },
    "language_extension": {
        "BIGINT": "int64", "INT": "int32", "SMALLINT": "int16", "TINYINT": "uint8",
        "FLOAT": "float64", "REAL": "float32",
    },
}
_UNSUPPORTED_INPUT = {
    "ml_services": {"DATETIME2", "DATETIMEOFFSET", "TIME", "DECIMAL", "NUMERIC", "MONEY",
                    "SMALLMONEY", "XML", "SQL_VARIANT", "HIERARCHYID", "GEOGRAPHY", "GEOMETRY"},
    "language_extension": {"DATETIMEOFFSET", "TIME", "DECIMAL", "NUMERIC", "MONEY", "SMALLMONEY",
                           "UNIQUEIDENTIFIER", "XML", "SQL_VARIANT", "HIERARCHYID", "GEOGRAPHY",
                           "GEOMETRY"},
}

# PostgreSQL type (psycopg's name for the OID) -> the SQL Server type sqlml's DDL uses
# for the same column (see sqlml.deploy.ddl and the migrations).
POSTGRES_TO_MSSQL = {
    "int8": SqlType("BIGINT"), "int4": SqlType("INT"), "int2": SqlType("SMALLINT"),
    "float8": SqlType("FLOAT"), "float4": SqlType("REAL"), "numeric": SqlType("DECIMAL"),
    "bool": SqlType("BIT"), "text": SqlType("NVARCHAR", ("MAX",)),
    "varchar": SqlType("NVARCHAR", ("MAX",)), "bpchar": SqlType("NCHAR", ("MAX",)),
    "name": SqlType("NVARCHAR", ("128",)), "bytea": SqlType("VARBINARY", ("MAX",)),
    "date": SqlType("DATE"), "timestamp": SqlType("DATETIME2"),
    "timestamptz": SqlType("DATETIMEOFFSET"), "uuid": SqlType("UNIQUEIDENTIFIER"),
    "json": SqlType("NVARCHAR", ("MAX",)), "jsonb": SqlType("NVARCHAR", ("MAX",)),
}


class ContractViolation(AssertionError):
    """SQL Server would not run this procedure's Python the way the test ran it."""

    def __init__(self, procedure: str, problems: Sequence[str]):
        self.procedure = procedure
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{procedure}: {len(self.problems)} contract problem(s):\n{lines}")


def _null(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def input_column(name: str, sql_type: SqlType, values: Sequence, profile: str) -> np.ndarray:
    """One InputDataSet column as ``profile`` builds it from the SQL values (None = NULL)."""
    kind = sql_type.name
    if kind in _UNSUPPORTED_INPUT[profile]:
        raise ValueError(
            f"input column {name!r} is {sql_type}, which {profile} does not hand to Python: "
            "CAST it in the input query (to FLOAT, DATETIME or NVARCHAR)"
        )
    has_nulls = any(_null(v) for v in values)
    if kind in _NUMERIC_INPUT[profile]:
        if has_nulls:
            return np.array([np.nan if _null(v) else float(v) for v in values], dtype="float64")
        return np.array([_number(v, kind) for v in values], dtype=_NUMERIC_INPUT[profile][kind])
    if kind == "BIT":
        if has_nulls:
            return np.array([None if _null(v) else bool(v) for v in values], dtype=object)
        return np.array([bool(v) for v in values], dtype=bool)
    if kind in STRING_TYPES:
        return np.array([None if _null(v) else str(v) for v in values], dtype=object)
    if kind in BINARY_TYPES:
        return np.array([None if _null(v) else bytes(v) for v in values], dtype=object)
    if kind in DATE_TYPES:
        return np.array([None if _null(v) else _when(v, kind, profile) for v in values],
                        dtype=object)
    raise ValueError(f"input column {name!r}: no mapping for SQL type {sql_type}")


def _number(value, kind: str):
    return float(value) if kind in FLOAT_TYPES else int(value)


def _when(value, kind: str, profile: str):
    if kind == "DATE" and profile == "language_extension":
        return value if type(value) is dt.date else value.date()
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day)


def input_frame(columns: Sequence[tuple[str, SqlType]], rows: Sequence[Sequence],
                profile: str) -> pd.DataFrame:
    """InputDataSet: the columns as ``profile`` builds them, then ``DataFrame(..., copy=False)``."""
    data = {
        name: input_column(name, sql_type, [row[i] for row in rows], profile)
        for i, (name, sql_type) in enumerate(columns)
    }
    return pd.DataFrame(data, copy=False)


def param_value(name: str, sql_type: SqlType, value):
    """A @params value as the Python variable SQL Server binds; ValueError if it cannot be."""
    if value is None:
        return None
    kind = sql_type.name
    if kind in BINARY_TYPES:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise ValueError(f"@{name} is {sql_type}: pass bytes, not {type(value).__name__}")
        return bytes(value)
    if kind in STRING_TYPES:
        if not isinstance(value, str):
            raise ValueError(f"@{name} is {sql_type}: pass str, not {type(value).__name__}")
        if kind in ("CHAR", "NCHAR") and sql_type.length:
            return value.ljust(sql_type.length)  # fixed-length types arrive blank-padded
        return value
    if kind == "BIT":
        if not isinstance(value, bool | int) or value not in (0, 1):
            raise ValueError(f"@{name} is BIT: pass True/False or 0/1, not {value!r}")
        return bool(value)
    if kind in INTEGER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"@{name} is {sql_type}: pass int, not {type(value).__name__}")
        return value
    if kind in FLOAT_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"@{name} is {sql_type}: pass a number, not {type(value).__name__}")
        return float(value)
    if kind in DATE_TYPES:
        if not isinstance(value, dt.date):
            raise ValueError(f"@{name} is {sql_type}: pass a date or datetime")
        return value
    raise ValueError(f"@{name}: no Python mapping for SQL type {sql_type}")


# NumPy dtype -> the family of ODBC C type the language extension sends it as
# (PythonDataSet::sm_pythonToOdbcTypeMap); object columns go as text, S as binary.
_DTYPE_FAMILY = {
    "bool": "bit", "uint8": "integer", "int16": "integer", "int32": "integer",
    "int64": "integer", "float32": "float", "float64": "float", "datetime64[ns]": "datetime",
}


def output_problems(frame, columns, profile: str) -> list[str]:
    """Why SQL Server would reject ``frame`` as the result set ``columns``; [] if it would not."""
    if not isinstance(frame, pd.DataFrame):
        return [f"the output data set is a {type(frame).__name__}, not a pandas DataFrame"]
    problems: list[str] = []
    if list(frame.columns) != [c.name for c in columns]:
        problems.append(
            f"columns {list(frame.columns)} differ from WITH RESULT SETS "
            f"{[c.name for c in columns]} (count, names or order)"
        )
    for position, column in enumerate(columns):
        if position >= frame.shape[1]:
            break
        series = frame.iloc[:, position]
        problems += _column_problems(column, series, profile)
    return problems


def _column_problems(column, series: pd.Series, profile: str) -> list[str]:
    label = f"column {column.name!r} ({column.type})"
    dtype = series.dtype
    if not isinstance(dtype, np.dtype):
        return [
            f"{label} has pandas dtype {dtype}, not a NumPy dtype: the language extension "
            "cannot read it (PopulateColumnDataType); return object dtype with None for NULL, "
            "or a NumPy numeric dtype"
        ]
    try:
        np.array(series, copy=False)
    except ValueError as exc:
        return [f"{label}: np.array(column, copy=False) fails ({exc}); the extension needs it"]
    name = str(dtype)
    if dtype.kind == "S":
        family = "binary"
    elif dtype.kind == "O":
        family = "text"
    elif name in _DTYPE_FAMILY:
        family = _DTYPE_FAMILY[name]
    else:
        return [f"{label} has dtype {name}, which the language extension does not map "
                "(bool, uint8, int16, int32, int64, float32, float64, datetime64[ns], object)"]

    values = series.tolist()
    nulls = [i for i, v in enumerate(values) if _null(v) or v is pd.NaT]
    problems = []
    if nulls and not column.nullable:
        problems.append(f"{label} is NOT NULL but {len(nulls)} row(s) are null (row {nulls[0]})")

    kind = column.type.name
    present = [v for v in values if not (_null(v) or v is pd.NaT)]
    if kind in INTEGER_TYPES or kind == "BIT" or kind in FLOAT_TYPES or kind in (
        "DECIMAL", "NUMERIC"
    ):
        if family not in ("bit", "integer", "float"):
            problems.append(f"{label} is numeric but the data is {name} (sent as {family})")
        elif kind in INTEGER_RANGE:
            low, high = INTEGER_RANGE[kind]
            bad = [
                v for v in present
                if not math.isfinite(float(v)) or float(v) != int(v) or not low <= int(v) <= high
            ]
            if bad:
                problems.append(f"{label}: {bad[0]!r} is not a {kind} value")
    elif kind in STRING_TYPES:
        if family != "text":
            problems.append(f"{label} is text but the data is {name}: return str values")
        else:
            others = [v for v in values if not (v is None or isinstance(v, str))]
            if others:
                problems.append(
                    f"{label} holds {type(others[0]).__name__} {others[0]!r}: object columns are "
                    "sent as text, so NULL must be None (NaN arrives as 'nan')"
                )
            limit = column.type.length
            too_long = [v for v in present if isinstance(v, str) and limit and len(v) > limit]
            if too_long:
                problems.append(f"{label}: {too_long[0][:40]!r}... is longer than {limit}")
    elif kind in BINARY_TYPES:
        if profile == "language_extension" and family != "binary":
            problems.append(
                f"{label}: the language extension sends object columns as text, not bytes; "
                "return blobs through an OUTPUT parameter instead"
            )
        elif not all(isinstance(v, bytes) for v in present):
            problems.append(f"{label} must hold bytes")
    elif kind in DATE_TYPES:
        ok = family == "datetime" or (
            family == "text" and all(isinstance(v, dt.date) for v in present)
        )
        if not ok:
            problems.append(f"{label} is a date/time but the data is {name}")
    return problems


def output_param_problems(name: str, sql_type: SqlType, value) -> list[str]:
    """Why SQL Server could not take ``value`` back as OUTPUT parameter @name."""
    if value is None:
        return []
    label = f"OUTPUT parameter @{name} ({sql_type})"
    kind = sql_type.name
    if kind in BINARY_TYPES:
        ok = isinstance(value, bytes)
    elif kind in STRING_TYPES:
        ok = isinstance(value, str)
    elif kind == "BIT":
        ok = isinstance(value, bool | np.bool_)
    elif kind in INTEGER_TYPES:
        ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    elif kind in FLOAT_TYPES:
        ok = isinstance(value, float | int | np.floating)
    else:
        ok = True
    if not ok:
        return [f"{label} was set to a {type(value).__name__}"]
    limit = sql_type.length
    if limit and len(value) > limit:
        return [f"{label} is {len(value)} long, over its declared {limit}"]
    return []
