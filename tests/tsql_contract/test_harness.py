"""The contract harness itself: T-SQL reading, SQL Server's type mapping, the output checks.

Procedures here are written to tmp files, so each rule is held by a case that
breaks it; the real procedures are checked in the test_<procedure>.py files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from . import harness
from .sqltypes import ContractViolation, input_column, input_frame, output_problems
from .tsql import Column, SqlType, parse_params, parse_type, read_calls, read_calls_text, tokenize

PROCEDURE = """
-- a header comment with an apostrophe: it's ignored
CREATE OR ALTER PROCEDURE ml.example
    @model_name NVARCHAR(128)
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @script NVARCHAR(MAX) = N'{script}';
    DECLARE @blob VARBINARY(MAX) = 0x0102;
    DECLARE @answer INT;
    /* a /* nested */ comment */
    EXEC sys.sp_execute_external_script
        @language = N'sqlml_python',
        @script = @script,
        @input_data_1 = N'SELECT 1 AS x',
        @input_data_1_name = N'rows_in',
        @output_data_1_name = N'rows_out',
        @params = N'@blob VARBINARY(MAX), @label NVARCHAR(8), @answer INT OUTPUT',
        @blob = @blob,
        @label = N'it''s',
        @answer = @answer OUTPUT
    WITH RESULT SETS ((
        [customer id] NVARCHAR(64) COLLATE Latin1_General_100_CI_AS NOT NULL,
        score FLOAT NULL
    ));
END;
"""

GOOD_SCRIPT = (
    "import pandas as pd\n"
    "rows_out = pd.DataFrame({''customer id'': pd.Series([''a''] * len(rows_in), dtype=object),"
    " ''score'': rows_in[''x''].astype(''float64'')})\n"
    "answer = len(blob)"
)


def write_procedure(tmp_path: Path, script: str = GOOD_SCRIPT) -> Path:
    path = tmp_path / "ml.example.sql"
    path.write_text(PROCEDURE.replace("{script}", script))
    return path


pytestmark = pytest.mark.unit


def test_tokenizer_unescapes_literals_and_skips_nested_comments():
    tokens = tokenize("/* a /* b */ c */ SELECT N'it''s', [a]]b], \"q\" -- done")
    assert [t.value for t in tokens] == ["SELECT", "it's", ",", "a]b", ",", "q"]


def test_reads_the_call_its_names_params_and_result_set(tmp_path):
    (call,) = read_calls(write_procedure(tmp_path))
    assert call.language == "sqlml_python"
    assert call.script.startswith("import pandas as pd\nrows_out")  # doubled quotes undone
    assert (call.input_name, call.output_name, call.has_input) == ("rows_in", "rows_out", True)
    assert [(p.name, str(p.type), p.output) for p in call.params] == [
        ("blob", "VARBINARY(MAX)", False), ("label", "NVARCHAR(8)", False),
        ("answer", "INT", True),
    ]
    assert call.result_sets == [[
        Column("customer id", SqlType("NVARCHAR", ("64",)), False),
        Column("score", SqlType("FLOAT"), True),
    ]]


def test_defaults_of_the_data_set_names():
    (call,) = read_calls_text(
        "EXEC sp_execute_external_script @language = N'sqlml_python', @script = N'x = 1' "
        "WITH RESULT SETS NONE;"
    )
    assert (call.input_name, call.output_name, call.has_input) == (
        "InputDataSet", "OutputDataSet", False
    )
    assert call.result_sets == []


def test_params_declaration():
    assert parse_params("@a INT, @b DECIMAL(18, 2), @c NVARCHAR(MAX) OUT") == [
        harness_param("a", "INT", False), harness_param("b", "DECIMAL(18,2)", False),
        harness_param("c", "NVARCHAR(MAX)", True),
    ]


def harness_param(name, type_text, output):
    from .tsql import Param

    return Param(name, parse_type(type_text), output)


@pytest.mark.parametrize(
    ("sql_type", "values", "ml_services", "language_extension"),
    [
        ("BIGINT", [1, 2], "float64", "int64"),
        ("INT", [1, 2], "int32", "int32"),
        ("SMALLINT", [1, 2], "int32", "int16"),
        ("TINYINT", [1, 2], "int32", "uint8"),
        ("REAL", [1.5, 2.0], "float64", "float32"),
        ("INT", [1, None], "float64", "float64"),
        ("BIGINT", [None, 2], "float64", "float64"),
        ("BIT", [True, False], "bool", "bool"),
        ("BIT", [True, None], "object", "object"),
        ("NVARCHAR(10)", ["a", None], "object", "object"),
        ("VARBINARY(MAX)", [b"\x00", None], "object", "object"),
    ],
)
def test_input_columns_follow_each_runtime(sql_type, values, ml_services, language_extension):
    for profile, expected in (("ml_services", ml_services),
                              ("language_extension", language_extension)):
        column = input_column("c", parse_type(sql_type), values, profile)
        assert str(column.dtype) == expected, profile
    with_null = input_column("c", parse_type(sql_type), values, "ml_services")
    assert any(v is None or (isinstance(v, float) and np.isnan(v)) for v in with_null) == (
        None in values
    )


def test_types_a_runtime_does_not_hand_over_need_a_cast():
    with pytest.raises(ValueError, match="CAST"):
        input_column("at", parse_type("DATETIME2"), [dt.datetime(2024, 1, 1)], "ml_services")
    for profile in ("ml_services", "language_extension"):
        with pytest.raises(ValueError, match="CAST"):
            input_column("amount", parse_type("DECIMAL(18,2)"), [1], profile)
    ext = input_column("at", parse_type("DATETIME2"), [dt.datetime(2024, 1, 1)],
                       "language_extension")
    assert ext[0] == dt.datetime(2024, 1, 1)
    assert input_column("d", parse_type("DATE"), [dt.date(2024, 1, 1)],
                        "language_extension")[0] == dt.date(2024, 1, 1)


def test_input_frame_gets_pandas_own_inference_on_top():
    # pandas 3 makes an object column of str its str dtype, with NaN for NULL: a
    # script that tests `value is None` on InputDataSet text would be wrong on both.
    frame = input_frame([("s", parse_type("NVARCHAR(4)"))], [("a",), (None,)],
                        "language_extension")
    assert str(frame["s"].dtype) == "str" and pd.isna(frame["s"][1])


def nvarchar(name, length="64", nullable=True):
    return Column(name, SqlType("NVARCHAR", (length,)), nullable)


def test_output_that_sql_server_takes():
    frame = pd.DataFrame({
        "id": pd.Series(["a", None], dtype=object),
        "n": np.array([1, 2], dtype="int64"),
        "p": [0.5, np.nan],
    })
    columns = [nvarchar("id"), Column("n", SqlType("BIGINT"), False),
               Column("p", SqlType("FLOAT"), True)]
    assert output_problems(frame, columns, "language_extension") == []


@pytest.mark.parametrize(
    ("frame", "column", "message"),
    [
        (pd.DataFrame({"id": ["a", "b"]}), nvarchar("id"), "pandas dtype str"),
        (pd.DataFrame({"id": pd.Series(["a", np.nan], dtype=object)}), nvarchar("id"),
         "NaN arrives as 'nan'"),
        (pd.DataFrame({"id": pd.Series(["a", None], dtype=object)}),
         nvarchar("id", nullable=False), "NOT NULL"),
        (pd.DataFrame({"id": pd.Series(["abcdef"], dtype=object)}), nvarchar("id", "3"),
         "longer than 3"),
        (pd.DataFrame({"n": [1.5]}), Column("n", SqlType("INT"), True), "not a INT"),
        (pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}),
         Column("n", SqlType("INT"), True), "not a NumPy dtype"),
        (pd.DataFrame({"at": [dt.datetime(2024, 1, 1)]}), Column("at", SqlType("DATETIME2"), True),
         "datetime64[us]"),
        (pd.DataFrame({"n": pd.Series(["1"], dtype=object)}), Column("n", SqlType("BIGINT"), True),
         "numeric"),
        (pd.DataFrame({"b": pd.Series([b"\x01"], dtype=object)}),
         Column("b", SqlType("VARBINARY", ("MAX",)), True), "OUTPUT parameter"),
        (pd.DataFrame({"other": pd.Series(["a"], dtype=object)}), nvarchar("id"),
         "differ from WITH RESULT SETS"),
    ],
    ids=["pandas str dtype", "NaN as NULL text", "null in NOT NULL", "too long",
         "fraction in INT", "nullable Int64", "datetime64[us]", "text for number",
         "bytes in a result set", "wrong name"],
)
def test_output_sql_server_rejects(frame, column, message):
    problems = output_problems(frame, [column], "language_extension")
    assert any(message in p for p in problems), problems


def test_run_binds_params_and_reads_back_output_params(tmp_path):
    (call,) = read_calls(write_procedure(tmp_path))
    outcome = harness.run(
        call, profile="language_extension", columns=[("x", SqlType("INT"))],
        rows=[(1,), (2,)], params={"blob": b"\x01\x02\x03", "label": "it's"},
    )
    assert outcome.output_params == {"answer": 3}
    assert outcome.output["score"].tolist() == [1.0, 2.0]


def test_run_reports_params_the_test_gets_wrong(tmp_path):
    (call,) = read_calls(write_procedure(tmp_path))
    with pytest.raises(ContractViolation) as caught:
        harness.run(call, profile="ml_services", columns=[("x", SqlType("INT"))], rows=[(1,)],
                    params={"blob": "not bytes", "extra": 1})
    text = str(caught.value)
    assert "pass bytes" in text and "'extra'" in text and "no value for @label" in text


def test_run_checks_output_params_and_result_set_none():
    (call,) = read_calls_text(
        "EXEC sp_execute_external_script @language = N'sqlml_python', "
        "@script = N'import pandas\nOutputDataSet = pandas.DataFrame({\"a\": [1]})\nout = 5', "
        "@params = N'@out NVARCHAR(10) OUTPUT', @out = @out OUTPUT WITH RESULT SETS NONE;"
    )
    with pytest.raises(ContractViolation) as caught:
        harness.run(call, profile="ml_services")
    text = str(caught.value)
    assert "RESULT SETS NONE" in text and "@out (NVARCHAR(10)) was set to a int" in text


def test_a_python_error_in_the_script_propagates(tmp_path):
    (call,) = read_calls(write_procedure(tmp_path, "raise RuntimeError(''boom'')"))
    with pytest.raises(RuntimeError, match="boom"):
        harness.run(call, profile="ml_services", columns=[("x", SqlType("INT"))], rows=[(1,)],
                    params={"blob": b"", "label": "x"})


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "procedures" / "mssql")
                                        .glob("*.sql")), ids=lambda p: p.name)
def test_every_procedure_call_is_readable(path):
    for call in read_calls(path):
        assert call.script, path.name
        assert call.result_sets is not None, f"{path.name}: always WITH RESULT SETS"
        call.params  # noqa: B018 - parses the @params declaration
