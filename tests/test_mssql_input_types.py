"""Issue 21: column types SQL Server's Python language extension refuses are found in
the caller's input query before any script runs (ops.check_input_types), in every
procedure that hands sp_execute_external_script an @input_data_1, inside its run.

The refusal itself runs through the extension (tests/langext/test_refused_types.py)
and the CASTs on a T-SQL engine (tests/babelfish/test_input_types.py)."""

from __future__ import annotations

import re

import pytest

from sqlml.paths import project_root
from tsql_contract.tsql import read_calls

pytestmark = pytest.mark.unit

MSSQL = project_root() / "procedures" / "mssql"
READERS = sorted(p for p in MSSQL.glob("*.sql") if any(c.has_input for c in read_calls(p)))


def test_the_procedures_that_read_an_input_query():
    assert [p.name for p in READERS] == [
        "ops.run_evaluate.sql", "ops.run_forecast.sql", "ops.run_import.sql",
        "ops.run_predict_model.sql", "ops.run_score_churn.sql", "ops.run_train.sql"]


@pytest.mark.parametrize("path", READERS, ids=lambda p: p.name)
def test_the_input_query_is_checked_before_the_script(path):
    text = path.read_text()
    check = text.index("EXEC ops.check_input_types @input_query = @query;")
    assert check < text.index("EXEC sp_execute_external_script")
    # The caller's query may also run as dynamic SQL (ops.run_score_churn finds each
    # batch's range with it): the check comes before that too.
    if "EXEC sp_executesql" in text:
        assert check < text.index("EXEC sp_executesql")
    assert check > text.index("SET @query = ") if "SET @query = " in text else \
        check > text.index("@query = COALESCE(")
    for call in read_calls(path):
        if call.has_input:
            given = call.arguments["@input_data_1"].text
            if given != "@query":
                # A batch of the checked query: the same columns, so the same types.
                assert re.search(rf"SET {given} = CONCAT\(\s*N'SELECT q\.\* FROM \(', "
                                 r"NCHAR\(10\), @query, NCHAR\(10\), N'\) AS q WHERE '",
                                 text), given


@pytest.mark.parametrize("path", READERS, ids=lambda p: p.name)
def test_the_check_runs_inside_the_run_ops_call_opened(path):
    """ops.call runs these with the run open; its CATCH records the THROW as failed."""
    call = (MSSQL / "ops.call.sql").read_text()
    assert f"EXEC {path.stem}" in call
    assert re.search(r"BEGIN CATCH\s+IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;\s+"
                     r"EXEC ops.fail_run @run_id = @run_id;\s+THROW;", call)


def test_every_statement_that_embeds_the_query_comes_after_the_one_query_check():
    """Issue 22, finding 3: a statement of the procedure's own around the caller's
    query (the batch ranges and batches of ops.run_score_churn and ops.run_forecast)
    runs only a query that SQL Server's parser found to be exactly one query
    (ops.check_input_query), embedded on lines of its own as that check embedded it."""
    embedding = [p for p in READERS if re.search(r"CONCAT\([^;]*@query", p.read_text())]
    assert sorted(p.name for p in embedding) == ["ops.run_forecast.sql", "ops.run_score_churn.sql"]
    for path in embedding:
        text = path.read_text()
        check = text.index("EXEC ops.check_input_query @input_query = @query;")
        for built in re.finditer(r"SET (@\w+) = CONCAT\(([^;]*)\);", text):
            if "@query" in built[2]:
                assert check < built.start(), built[1]
                assert "NCHAR(10), @query, NCHAR(10)" in built[2], built[1]
    check = (MSSQL / "ops.check_input_query.sql").read_text()
    assert "N'SELECT * FROM (', NCHAR(10), @input_query, NCHAR(10), N') AS sqlml_input'" in check
    assert "WHERE d.error_type = 2;" in check  # SYNTAX, in the DMF's rows
