"""SQL Server's side of the language-extension API: which ODBC C type a T-SQL type
crosses as, and the buffers it binds.

The map is SQL Server's (the R extension's RDataSet.cpp names it column by column;
../shared/langext/README.md lists it): fixed-size types as arrays of their C type,
strings and binaries packed end to end with a byte length per row, DATE and
DATETIME2 as ODBC's date and timestamp structs (fraction in nanoseconds), a NULL as
the indicator -1 (SQL_NULL_DATA). A (MAX) type has the size 65535. Types that SQL
Server does cross with a C type the Python extension has no reader for (DECIMAL as
SQL_C_NUMERIC, TIME, DATETIMEOFFSET, UNIQUEIDENTIFIER) keep their real code, so the
extension itself refuses them; types no external script takes at all (XML,
SQL_VARIANT, the CLR types, TEXT/NTEXT/IMAGE) have no binding here.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import decimal
import math
from dataclasses import dataclass

SQL_NULL_DATA = -1
MAX_SIZE = 65535

SQL_C_CHAR, SQL_C_WCHAR, SQL_C_BINARY = 1, -8, -2
SQL_C_BIT, SQL_C_UTINYINT, SQL_C_SSHORT, SQL_C_SLONG, SQL_C_SBIGINT = -7, -28, -15, -16, -25
SQL_C_FLOAT, SQL_C_DOUBLE = 7, 8
SQL_C_TYPE_DATE, SQL_C_TYPE_TIMESTAMP = 91, 93
SQL_C_NUMERIC, SQL_C_GUID = 2, -11
SQL_C_SS_TIME2, SQL_C_SS_TIMESTAMPOFFSET = 0x4000, 0x4001

C_TYPE_NAMES = {
    SQL_C_CHAR: "SQL_C_CHAR", SQL_C_WCHAR: "SQL_C_WCHAR", SQL_C_BINARY: "SQL_C_BINARY",
    SQL_C_BIT: "SQL_C_BIT", SQL_C_UTINYINT: "SQL_C_UTINYINT", SQL_C_SSHORT: "SQL_C_SSHORT",
    SQL_C_SLONG: "SQL_C_SLONG", SQL_C_SBIGINT: "SQL_C_SBIGINT", SQL_C_FLOAT: "SQL_C_FLOAT",
    SQL_C_DOUBLE: "SQL_C_DOUBLE", SQL_C_TYPE_DATE: "SQL_C_TYPE_DATE",
    SQL_C_TYPE_TIMESTAMP: "SQL_C_TYPE_TIMESTAMP", SQL_C_NUMERIC: "SQL_C_NUMERIC",
    SQL_C_GUID: "SQL_C_GUID", SQL_C_SS_TIME2: "SQL_C_SS_TIME2",
    SQL_C_SS_TIMESTAMPOFFSET: "SQL_C_SS_TIMESTAMPOFFSET",
}

_FIXED = {  # C type -> ctypes element
    SQL_C_BIT: ctypes.c_uint8, SQL_C_UTINYINT: ctypes.c_uint8, SQL_C_SSHORT: ctypes.c_int16,
    SQL_C_SLONG: ctypes.c_int32, SQL_C_SBIGINT: ctypes.c_int64, SQL_C_FLOAT: ctypes.c_float,
    SQL_C_DOUBLE: ctypes.c_double,
}


class DATE_STRUCT(ctypes.Structure):
    _fields_ = [("year", ctypes.c_int16), ("month", ctypes.c_uint16), ("day", ctypes.c_uint16)]


class TIMESTAMP_STRUCT(ctypes.Structure):
    _fields_ = [("year", ctypes.c_int16), ("month", ctypes.c_uint16), ("day", ctypes.c_uint16),
                ("hour", ctypes.c_uint16), ("minute", ctypes.c_uint16),
                ("second", ctypes.c_uint16), ("fraction", ctypes.c_uint32)]


class NUMERIC_STRUCT(ctypes.Structure):
    _fields_ = [("precision", ctypes.c_uint8), ("scale", ctypes.c_int8), ("sign", ctypes.c_uint8),
                ("val", ctypes.c_uint8 * 16)]


_STRUCTS = {SQL_C_TYPE_DATE: DATE_STRUCT, SQL_C_TYPE_TIMESTAMP: TIMESTAMP_STRUCT,
            SQL_C_NUMERIC: NUMERIC_STRUCT}


class NotSent(ValueError):
    """A T-SQL type SQL Server does not hand an external script at all."""


@dataclass(frozen=True)
class Binding:
    """How one column or parameter crosses: C type, size, decimal digits, nullability."""

    sql_type: str  # as declared, e.g. NVARCHAR(64)
    c_type: int
    size: int
    digits: int = 0
    nullable: bool = True

    @property
    def is_max(self) -> bool:
        return self.size == MAX_SIZE and self.c_type in (SQL_C_CHAR, SQL_C_WCHAR, SQL_C_BINARY)


def _split(sql_type: str) -> tuple[str, list[str]]:
    text = sql_type.strip().upper()
    if "(" not in text:
        return text, []
    name, args = text.split("(", 1)
    return name.strip(), [a.strip() for a in args.rstrip(")").split(",")]


def binding(sql_type: str, nullable: bool = True) -> Binding:
    """The C binding SQL Server gives a column or parameter of ``sql_type``."""
    name, args = _split(sql_type)

    def length(default: int) -> int:
        if not args:
            return default
        return MAX_SIZE if args[0] == "MAX" else int(args[0])

    fixed = {"BIT": (SQL_C_BIT, 1), "TINYINT": (SQL_C_UTINYINT, 1),
             "SMALLINT": (SQL_C_SSHORT, 2), "INT": (SQL_C_SLONG, 4),
             "BIGINT": (SQL_C_SBIGINT, 8), "REAL": (SQL_C_FLOAT, 4), "FLOAT": (SQL_C_DOUBLE, 8)}
    if name in fixed:
        c_type, size = fixed[name]
        return Binding(sql_type, c_type, size, 0, nullable)
    if name in ("CHAR", "VARCHAR"):
        return Binding(sql_type, SQL_C_CHAR, length(1), 0, nullable)
    if name in ("NCHAR", "NVARCHAR", "SYSNAME"):
        return Binding(sql_type, SQL_C_WCHAR, 128 if name == "SYSNAME" else length(1), 0,
                       nullable)
    if name in ("BINARY", "VARBINARY"):
        return Binding(sql_type, SQL_C_BINARY, length(1), 0, nullable)
    if name == "DATE":
        return Binding(sql_type, SQL_C_TYPE_DATE, ctypes.sizeof(DATE_STRUCT), 0, nullable)
    if name in ("DATETIME", "DATETIME2", "SMALLDATETIME"):
        return Binding(sql_type, SQL_C_TYPE_TIMESTAMP, ctypes.sizeof(TIMESTAMP_STRUCT),
                       int(args[0]) if args else 7 if name == "DATETIME2" else 3, nullable)
    if name in ("DECIMAL", "NUMERIC"):
        precision = int(args[0]) if args else 18
        return Binding(sql_type, SQL_C_NUMERIC, precision,
                       int(args[1]) if len(args) > 1 else 0, nullable)
    if name in ("MONEY", "SMALLMONEY"):
        return Binding(sql_type, SQL_C_NUMERIC, 19 if name == "MONEY" else 10, 4, nullable)
    if name == "TIME":
        return Binding(sql_type, SQL_C_SS_TIME2, 12, int(args[0]) if args else 7, nullable)
    if name == "DATETIMEOFFSET":
        return Binding(sql_type, SQL_C_SS_TIMESTAMPOFFSET, 20, int(args[0]) if args else 7,
                       nullable)
    if name == "UNIQUEIDENTIFIER":
        return Binding(sql_type, SQL_C_GUID, 16, 0, nullable)
    raise NotSent(f"SQL Server sends no {sql_type} column or parameter to an external script")


def _is_null(value) -> bool:
    # A SQL Server FLOAT cannot hold NaN: a NaN in the test's rows crosses as NULL.
    return value is None or (isinstance(value, float) and math.isnan(value))


def _encode(binding: Binding, value) -> bytes:
    if binding.c_type == SQL_C_CHAR:
        return value.encode("utf-8")
    if binding.c_type == SQL_C_WCHAR:
        return value.encode("utf-16-le")
    return bytes(value)


def _struct(binding: Binding, value):
    if binding.c_type == SQL_C_TYPE_DATE:
        return DATE_STRUCT(value.year, value.month, value.day)
    if binding.c_type == SQL_C_TYPE_TIMESTAMP:
        if not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        return TIMESTAMP_STRUCT(value.year, value.month, value.day, value.hour, value.minute,
                                value.second, value.microsecond * 1000)
    if binding.c_type == SQL_C_NUMERIC:
        number = decimal.Decimal(value).scaleb(binding.digits).to_integral_value()
        magnitude = int(abs(number))
        return NUMERIC_STRUCT(binding.size, binding.digits, 0 if number < 0 else 1,
                              (ctypes.c_uint8 * 16)(*magnitude.to_bytes(16, "little")))
    raise NotSent(f"the test host has no buffer for {binding.sql_type}")


def column_buffer(binding: Binding, values: list):
    """The data buffer and the indicator array SQL Server passes Execute for a column."""
    count = len(values)
    indicators = (ctypes.c_int32 * max(count, 1))()
    if binding.c_type in _FIXED:
        element = _FIXED[binding.c_type]
        buffer = (element * max(count, 1))()
        for row, value in enumerate(values):
            if _is_null(value):
                indicators[row] = SQL_NULL_DATA
            else:
                buffer[row] = int(bool(value)) if binding.c_type == SQL_C_BIT else value
                indicators[row] = ctypes.sizeof(element)
        return buffer, indicators
    if binding.c_type in (SQL_C_CHAR, SQL_C_WCHAR, SQL_C_BINARY):
        packed = bytearray()
        for row, value in enumerate(values):
            if value is None:
                indicators[row] = SQL_NULL_DATA
            else:
                encoded = _encode(binding, value)
                packed += encoded
                indicators[row] = len(encoded)
        buffer = (ctypes.c_char * max(len(packed), 1)).from_buffer_copy(bytes(packed) or b"\0")
        return buffer, indicators
    struct = _STRUCTS.get(binding.c_type)
    if struct is None:
        raise NotSent(f"the test host has no buffer for {binding.sql_type}")
    buffer = (struct * max(count, 1))()
    for row, value in enumerate(values):
        if value is None:
            indicators[row] = SQL_NULL_DATA
        else:
            buffer[row] = _struct(binding, value)
            indicators[row] = ctypes.sizeof(struct)
    return buffer, indicators


def param_buffer(binding: Binding, value):
    """The value pointer and StrLen_or_Ind SQL Server passes InitParam."""
    if _is_null(value):
        if binding.c_type in _FIXED or binding.c_type in _STRUCTS:
            element = _FIXED.get(binding.c_type) or _STRUCTS[binding.c_type]
            return (element * 1)(), SQL_NULL_DATA
        return None, SQL_NULL_DATA
    if binding.c_type in _FIXED:
        element = _FIXED[binding.c_type]
        stored = int(bool(value)) if binding.c_type == SQL_C_BIT else value
        return (element * 1)(stored), ctypes.sizeof(element)
    if binding.c_type in (SQL_C_CHAR, SQL_C_WCHAR, SQL_C_BINARY):
        encoded = _encode(binding, value)
        return (ctypes.c_char * max(len(encoded), 1)).from_buffer_copy(encoded or b"\0"), len(
            encoded)
    struct = _STRUCTS.get(binding.c_type)
    if struct is None:
        raise NotSent(f"the test host has no buffer for {binding.sql_type}")
    return (struct * 1)(_struct(binding, value)), ctypes.sizeof(struct)


def _char(chunk: bytes):
    """SQL_C_CHAR out of the extension is UTF-8 text, or raw bytes where a script left
    bytes in an object column (which the extension sends as CHAR, unconverted)."""
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError:
        return chunk


def _from_struct(c_type: int, item):
    if c_type == SQL_C_TYPE_DATE:
        return dt.date(item.year, item.month, item.day)
    return dt.datetime(item.year, item.month, item.day, item.hour, item.minute, item.second,
                       item.fraction // 1000)


def read_column(c_type: int, data: int | None, indicators, rows: int) -> list:
    """A result column as Python values (None for NULL), from GetResults' buffers."""
    if rows == 0:
        return []
    lengths = [indicators[row] for row in range(rows)]
    if c_type in _FIXED:
        element = _FIXED[c_type]
        array = ctypes.cast(data, ctypes.POINTER(element))
        return [None if lengths[row] == SQL_NULL_DATA
                else bool(array[row]) if c_type == SQL_C_BIT else array[row]
                for row in range(rows)]
    if c_type in (SQL_C_CHAR, SQL_C_WCHAR, SQL_C_BINARY):
        total = sum(length for length in lengths if length != SQL_NULL_DATA)
        raw = ctypes.string_at(data, total) if total else b""
        values, offset = [], 0
        for length in lengths:
            if length == SQL_NULL_DATA:
                values.append(None)
                continue
            chunk = raw[offset:offset + length]
            offset += length
            values.append(chunk if c_type == SQL_C_BINARY
                          else chunk.decode("utf-16-le") if c_type == SQL_C_WCHAR
                          else _char(chunk))
        return values
    struct = _STRUCTS[c_type]
    array = ctypes.cast(data, ctypes.POINTER(struct))
    return [None if lengths[row] == SQL_NULL_DATA else _from_struct(c_type, array[row])
            for row in range(rows)]


def read_param(binding: Binding, value: int | None, indicator: int):
    """An OUTPUT parameter's value from GetOutputParam's pointer and indicator."""
    if indicator == SQL_NULL_DATA or value is None:
        return None
    if binding.c_type in _FIXED:
        element = _FIXED[binding.c_type]
        got = ctypes.cast(value, ctypes.POINTER(element))[0]
        return bool(got) if binding.c_type == SQL_C_BIT else got
    if binding.c_type in (SQL_C_CHAR, SQL_C_WCHAR, SQL_C_BINARY):
        raw = ctypes.string_at(value, indicator)
        return (raw if binding.c_type == SQL_C_BINARY
                else raw.decode("utf-16-le") if binding.c_type == SQL_C_WCHAR
                else raw.decode("utf-8"))
    return _from_struct(binding.c_type, ctypes.cast(value, ctypes.POINTER(_STRUCTS[
        binding.c_type]))[0])
