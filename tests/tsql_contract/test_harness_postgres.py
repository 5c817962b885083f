"""The contract harness fed from the PostgreSQL engine: InputDataSet as each runtime builds it."""

from __future__ import annotations

import textwrap

import pytest

from . import harness
from .tsql import read_calls_text

pytestmark = [pytest.mark.postgres, pytest.mark.tsql_contract]


ECHO = textwrap.dedent("""
    EXEC sp_execute_external_script
        @language = N'sqlml_python',
        @script = N'import pandas as pd
    OutputDataSet = pd.DataFrame({
        "name": pd.Series(list(InputDataSet.columns), dtype=object),
        "dtype": pd.Series([str(t) for t in InputDataSet.dtypes], dtype=object)})',
        @input_data_1 = @query
    WITH RESULT SETS ((name NVARCHAR(128) NOT NULL, dtype NVARCHAR(64) NOT NULL));
""")

POSTGRES_ROWS = """
SELECT * FROM (VALUES
    (1::bigint, 1::int, 1.5::float8, true, 'a'::text, '\\x01'::bytea, DATE '2024-01-31'),
    (2::bigint, NULL::int, NULL::float8, false, NULL::text, NULL::bytea, NULL::date)
) AS t (big, small_with_null, ratio, flag, label, blob, day)
"""


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("ml_services", {"big": "float64", "small_with_null": "float64", "ratio": "float64",
                         "flag": "bool", "label": "str", "blob": "object",
                         "day": "datetime64[us]"}),
        ("language_extension", {"big": "int64", "small_with_null": "float64",
                                "ratio": "float64", "flag": "bool", "label": "str",
                                "blob": "object", "day": "object"}),
    ],
)
def test_input_data_set_built_from_postgres_rows(db, profile, expected):
    (call,) = read_calls_text(ECHO)
    columns, rows = harness.postgres_input(db, POSTGRES_ROWS)
    outcome = harness.run(call, profile=profile, columns=columns, rows=rows)
    assert dict(zip(outcome.output["name"], outcome.output["dtype"], strict=True)) == expected
    assert outcome.input["blob"][0] == b"\x01" and outcome.input["blob"][1] is None
