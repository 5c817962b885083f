"""What the real extension does with SQL Server's types, and what the adapter's
``output`` (python/sqlml/adapters/mssql.py) makes of a pandas 3 OutputDataSet.

Each case states a fact of ../shared/langext/README.md through the library itself,
so that a change of the prebuilt (or of pandas) that changes it fails here first.
"""

from __future__ import annotations

import datetime as dt

import pytest

from . import odbc

pytestmark = pytest.mark.langext

DTYPES = ("OutputDataSet = DataFrame({'dtype': [str(t) for t in InputDataSet.dtypes]}, "
          "dtype=object)")
ADAPTED = "from sqlml.adapters.mssql import output\nOutputDataSet = output(InputDataSet)"


def test_int_with_nulls_arrives_as_float_and_bit_and_date_as_objects(langext):
    result = langext.run_script(
        "from pandas import DataFrame\n" + DTYPES,
        columns=[("plain", "INT"), ("holed", "INT"), ("flag", "BIT"), ("day", "DATE"),
                 ("at", "DATETIME2"), ("name", "NVARCHAR(20)"), ("blob", "VARBINARY(MAX)")],
        rows=[(1, 1, True, dt.date(2024, 5, 1), dt.datetime(2024, 5, 1, 8), "ñ", b"\x00"),
              (2, None, None, None, None, None, None)])
    assert result.failed_call is None, result.errors
    assert result.data[0] == ["int32", "float64", "object", "object", "datetime64[us]", "str",
                              "object"]


def test_nvarchar_params_cross_as_utf16_and_come_back(langext):
    result = langext.run_script(
        "echo = text + ' ✓'\ncount = n + 1",
        params=[("text", "NVARCHAR(MAX)", "Grüße 月", False), ("n", "INT", 41, False),
                ("echo", "NVARCHAR(MAX)", None, True), ("count", "INT", None, True)])
    assert result.failed_call is None, result.errors
    assert result.params == {"echo": "Grüße 月 ✓", "count": 42}


@pytest.mark.parametrize("script, error", [
    ("OutputDataSet = InputDataSet", "StringDtype"),
    ("OutputDataSet = InputDataSet[['at']]", "datetime64[us]"),
], ids=["pandas 3 str column", "datetime64[us] column"])
def test_pandas_3_frames_fail_unconverted(langext, script, error):
    result = langext.run_script(script, columns=[("name", "NVARCHAR(20)"), ("at", "DATETIME2")],
                                rows=[("a", dt.datetime(2024, 1, 1)), (None, None)])
    assert result.failed_call == "Execute"
    assert error in result.errors


def test_the_adapter_output_crosses_with_types_and_nulls(langext):
    """Through ``output``: text (non-ASCII) as UTF-8 CHAR with NULLs as NULL, the
    timestamp as a timestamp, NaN as NULL, integers as integers, bytes as bytes."""
    result = langext.run_script(
        ADAPTED,
        columns=[("name", "NVARCHAR(20)"), ("at", "DATETIME2"), ("x", "FLOAT"),
                 ("n", "BIGINT", False), ("blob", "VARBINARY(MAX)")],
        rows=[("Ærø", dt.datetime(2024, 1, 1, 2, 3, 4, 5), 1.5, 7, b"\x00\xff"),
              (None, None, float("nan"), 8, None)])
    # bytes leave as SQL_C_CHAR holding the raw bytes: the extension has no binary
    # output for an object column (no procedure returns a VARBINARY column)
    assert result.failed_call is None, result.errors
    assert result.c_types == ["SQL_C_CHAR", "SQL_C_TYPE_TIMESTAMP", "SQL_C_DOUBLE",
                              "SQL_C_SBIGINT", "SQL_C_CHAR"]
    assert result.records() == [
        ("Ærø", dt.datetime(2024, 1, 1, 2, 3, 4, 5), 1.5, 7, b"\x00\xff"),
        (None, None, None, 8, None),
    ]


def test_decimal_parameters_are_refused_too(langext):
    result = langext.run_script("pass", params=[("amount", "DECIMAL(10,2)", None, False)])
    assert result.failed_call == "InitParam @amount"
    assert odbc.binding("DECIMAL(10,2)").c_type == odbc.SQL_C_NUMERIC
