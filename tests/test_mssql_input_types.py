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
                assert re.search(rf"SET {given} = CONCAT\(\s*N'SELECT q\.\* FROM \(', @query, "
                                 r"N'\) AS q WHERE '", text), given


@pytest.mark.parametrize("path", READERS, ids=lambda p: p.name)
def test_the_check_runs_inside_the_run_ops_call_opened(path):
    """ops.call runs these with the run open; its CATCH records the THROW as failed."""
    call = (MSSQL / "ops.call.sql").read_text()
    assert f"EXEC {path.stem}" in call
    assert re.search(r"BEGIN CATCH\s+IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;\s+"
                     r"EXEC ops.fail_run @run_id = @run_id;\s+THROW;", call)
