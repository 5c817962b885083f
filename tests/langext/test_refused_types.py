"""Column types the language extension refuses, and the CASTs sqlml tells a caller to write.

The extension fails ``InitColumn`` for a DECIMAL, NUMERIC, MONEY, SMALLMONEY, TIME,
DATETIMEOFFSET or UNIQUEIDENTIFIER column, before any script runs; SQL Server then
reports only its generic external-script error. ops.check_input_types finds such
columns first and throws the CAST that ops.input_column_cast writes for each type; here
each CAST's target type goes through the real extension with the value intact.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid

import pytest

from sqlml.paths import project_root

from . import odbc

pytestmark = pytest.mark.langext

CAST_FUNCTION = project_root() / "procedures" / "mssql" / "ops.input_column_cast.sql"
ECHO = "OutputDataSet = InputDataSet"

REFUSED = [  # (type, a value, that value after the CAST sqlml asks for)
    ("DECIMAL(10,2)", decimal.Decimal("79.85"), 79.85),
    ("NUMERIC(18,4)", decimal.Decimal("-1234.5678"), -1234.5678),
    ("MONEY", decimal.Decimal("19.9900"), 19.99),
    ("SMALLMONEY", decimal.Decimal("5.2500"), 5.25),
    ("TIME", dt.time(13, 45, 10), dt.datetime(1900, 1, 1, 13, 45, 10)),
    ("DATETIMEOFFSET", None, dt.datetime(2024, 3, 1, 11, 30)),
    ("UNIQUEIDENTIFIER", None, str(uuid.UUID(int=7))),
]


def cast_target(sql_type: str) -> str:
    """The type ops.input_column_cast CASTs a column of ``sql_type`` to."""
    base = sql_type.split("(")[0].lower()
    text = CAST_FUNCTION.read_text()
    for when in re.finditer(r"WHEN @base (?:= N'(\w+)'|IN \(([^)]*)\))\s+THEN (.*)", text):
        names = [when.group(1)] if when.group(1) else re.findall(r"N'(\w+)'", when.group(2))
        if base in names:
            if ".ToString()" in when.group(3):
                return "NVARCHAR(MAX)"  # what ToString() returns
            return re.search(r" AS (\w+(?:\(\w+\))?)\)", when.group(3)).group(1)
    raise AssertionError(f"ops.input_column_cast has no CAST for {sql_type}")


@pytest.mark.parametrize("sql_type", [t for t, *_ in REFUSED])
def test_the_extension_refuses_the_column_before_the_script(langext, sql_type):
    value = next(v for t, v, _ in REFUSED if t == sql_type)
    result = langext.run_script("raise SystemExit('the script must not run')",
                                columns=[("amount", sql_type)],
                                rows=[(value,)] if value is not None else [])
    assert result.failed_call == "InitColumn amount"
    assert "Unsupported data type" in result.errors
    assert "Execute" not in result.calls


@pytest.mark.parametrize("sql_type", [t for t, *_ in REFUSED])
def test_the_cast_sqlml_asks_for_crosses_the_extension(langext, sql_type):
    cast_value = next(c for t, _, c in REFUSED if t == sql_type)
    target = cast_target(sql_type)
    result = langext.run_script(
        "from sqlml.adapters.mssql import output\nOutputDataSet = output(InputDataSet)",
        columns=[("amount", target)], rows=[(cast_value,), (None,)])
    assert result.failed_call is None, result.errors
    got = result.data[0]
    assert got[1] is None
    if isinstance(cast_value, float):
        assert got[0] == pytest.approx(cast_value)
    else:
        assert got[0] == cast_value


@pytest.mark.parametrize("sql_type", ["XML", "SQL_VARIANT", "GEOGRAPHY"])
def test_types_sent_to_no_script_have_a_cast_too(sql_type):
    with pytest.raises(odbc.NotSent):
        odbc.binding(sql_type)
    assert cast_target(sql_type) == "NVARCHAR(MAX)"
