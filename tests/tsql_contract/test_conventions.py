"""Every T-SQL procedure keeps the house template and the contracts between procedures.

One test per file under procedures/mssql (the Python-bearing ones also have their
embedded-Python contracts in test_churn.py, test_runtime_info.py, ...):

* the template: CREATE OR ALTER, SET NOCOUNT ON, SET XACT_ABORT ON, a header
  comment saying what it is for;
* a procedure that keeps a run (calls ops.begin_run) handles errors with the one
  CATCH idiom (rollback, ops.fail_run, THROW); no other procedure has a TRY/CATCH
  that only re-throws;
* sp_execute_external_script calls: WITH RESULT SETS, typed @params, and the
  embedded Python's error carried out as ``@script_error NVARCHAR(MAX) OUTPUT`` and
  raised right after the call by ``ops.raise_script_error`` with an error number
  50xxx of the caller's (never the generic Msg 39004);
* no dynamic SQL built by concatenation, but for the caller's input query itself run
  through ``sp_executesql`` (ops.run_score_churn's and ops.run_forecast's batch
  ranges): only the caller's ``@query`` and QUOTENAME'd names go into the text, every
  value goes in as a parameter;
* every ``EXEC ops.x @a = ...`` names only parameters ops.x declares, and passes
  every parameter ops.x has no default for: the contract between procedures that
  SQL Server itself checks only when the call runs;
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sqlml.paths import project_root

from .tsql import read_calls, tokenize

pytestmark = pytest.mark.tsql_contract

ROOT = project_root()
PROCEDURES = sorted((ROOT / "procedures" / "mssql").glob("*.sql"))
_HEADER_PARAM = re.compile(r"^\s*(@\w+)\s+[^,]*?(=\s*[^,\s]+)?\s*(OUTPUT)?\s*,?\s*$",
                           re.IGNORECASE)


def _code(path: Path) -> str:
    """The file without comments or string literals, upper-cased, for keyword checks."""
    return " ".join(t.text.upper() for t in tokenize(path.read_text()) if t.kind != "string")


def declared_params(path: Path) -> dict[str, bool]:
    """``{@name: has_default}`` from the procedure's header (up to AS). An OUTPUT
    parameter without a default must still be passed (Msg 201 otherwise)."""
    text = path.read_text()
    header = text[re.search(r"CREATE OR ALTER PROCEDURE", text).end():re.search(
        r"^AS\s*$", text, re.MULTILINE).start()]
    params = {}
    for line in header.splitlines()[1:]:
        match = _HEADER_PARAM.match(line)
        if match:
            params[match.group(1).lower()] = bool(match.group(2))
    return params


def _dynamic_statements(path: Path) -> list[str]:
    """The variables ``EXEC sp_executesql`` runs; each call must also pass a parameter
    definition, so that values travel as parameters, never in the text."""
    text = path.read_text()
    calls = re.findall(r"EXEC\s+sp_executesql\s+(@\w+)\s*,\s*(N'[^']*')?", text, re.IGNORECASE)
    for variable, definition in calls:
        assert definition, f"{path.name}: sp_executesql {variable} takes its values as parameters"
    return [variable for variable, _ in calls]


def _assert_only_the_callers_query(path: Path, variable: str) -> None:
    """The statement is built by one CONCAT whose only variables are the caller's @query
    (which then runs with the caller's rights, as @input_data_1 would) and names passed
    through QUOTENAME; anything else spliced in would be SQL injection."""
    text = path.read_text()
    match = re.search(rf"SET {re.escape(variable)} = CONCAT\((.*?)\);\n", text, re.DOTALL)
    assert match, f"{path.name}: {variable} is built by one SET ... CONCAT(...)"
    body = re.sub(r"N'(?:[^']|'')*'", "", match.group(1))
    body = re.sub(r"QUOTENAME\(@\w+\)", "", body, flags=re.IGNORECASE)
    # A CASE's condition chooses text; it puts nothing of its own into it.
    body = re.sub(r"WHEN\s+@\w+\s*[<>=]+\s*\d+\s+THEN", "", body, flags=re.IGNORECASE)
    spliced = set(re.findall(r"@\w+", body)) - {"@query"}
    assert "@query" in body and not spliced, (
        f"{path.name}: {variable} splices {sorted(spliced)} into dynamic SQL")


def exec_calls(path: Path) -> list[tuple[str, set[str]]]:
    """``EXEC ops.x @a = ..., @b = ...`` calls: (procedure, named parameters)."""
    tokens = [t for t in tokenize(path.read_text()) if t.kind != "space"]
    calls = []
    for i, token in enumerate(tokens[:-3]):
        if token.is_word("EXEC", "EXECUTE") and tokens[i + 1].text.lower() in ("ops", "ml") \
                and tokens[i + 2].is_punct("."):
            name = f"{tokens[i + 1].text.lower()}.{tokens[i + 3].text.lower()}"
            named, depth, j = set(), 0, i + 4
            while j < len(tokens) and not tokens[j].is_punct(";"):
                if tokens[j].is_punct("("):
                    depth += 1
                elif tokens[j].is_punct(")"):
                    depth -= 1
                elif (depth == 0 and tokens[j].kind == "variable" and j + 1 < len(tokens)
                      and tokens[j + 1].is_punct("=")
                      and (tokens[j - 1].is_punct(",") or j == i + 4)):
                    named.add(tokens[j].text.lower())
                j += 1
            calls.append((name, named))
    return calls


@pytest.mark.parametrize("path", PROCEDURES, ids=lambda p: p.name)
def test_procedure_keeps_the_template_and_its_contracts(path: Path):
    text = path.read_text()
    code = _code(path)
    assert text.lstrip().startswith("--"), "a header comment says what it is for"
    if "CREATE OR ALTER FUNCTION" in code:  # no SET inside a function; nothing else applies
        assert "EXEC" not in code and "SP_EXECUTE_EXTERNAL_SCRIPT" not in code
        return
    assert "CREATE OR ALTER PROCEDURE" in code
    assert "SET NOCOUNT ON ;" in code and "SET XACT_ABORT ON ;" in code
    if "EXEC OPS . BEGIN_RUN" in code:
        assert "BEGIN TRY" in code, "a procedure that keeps a run handles its errors"
        catch = code[code.rindex("BEGIN CATCH"):]
        assert re.fullmatch(
            r"BEGIN CATCH IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION ; EXEC OPS \. FAIL_RUN "
            r"[^;]* ; THROW ; END CATCH ; END ;", catch.strip()), "the one CATCH idiom"
    else:
        assert not re.search(r"BEGIN CATCH THROW ; END CATCH", code), (
            "a CATCH block that only re-throws changes nothing: leave it out")
    assert not re.search(r"EXEC\s*\(\s*@", code), "no dynamic SQL"
    for statement in _dynamic_statements(path):
        _assert_only_the_callers_query(path, statement)

    for call in read_calls(path):
        assert call.result_sets is not None, "sp_execute_external_script needs WITH RESULT SETS"
        for param in call.params:
            assert param.type is not None, f"@{param.name} is typed in @params"
        error = {p.name: p for p in call.params}.get("script_error")
        assert error is not None and error.output and error.type.name == "NVARCHAR", (
            "the embedded Python's error comes back as @script_error NVARCHAR(MAX) OUTPUT")
        after = code[code.index("WITH RESULT SETS", code.index("SP_EXECUTE_EXTERNAL_SCRIPT")):]
        next_statement = after[after.index(";") + 1:].strip()
        assert re.match(r"EXEC OPS \. RAISE_SCRIPT_ERROR @SCRIPT_ERROR = @SCRIPT_ERROR , "
                        r"@ERROR_NUMBER = 50\d\d\d ;", next_statement), (
            "raised by ops.raise_script_error right after the call")

    for name, named in exec_calls(path):
        callee = ROOT / "procedures" / "mssql" / f"{name}.sql"
        assert callee.is_file(), f"{path.name} calls {name}, which sqlml does not define"
        declared = declared_params(callee)
        unknown = named - set(declared)
        assert not unknown, f"{path.name} passes {sorted(unknown)} that {name} does not declare"
        required = {p for p, has_default in declared.items() if not has_default}
        assert required <= named, f"{path.name} leaves {sorted(required - named)} of {name} unset"


def test_the_contract_reader_sees_calls_and_parameters():
    """The checks above are only as good as these readers: hold them to known facts."""
    register = ROOT / "procedures" / "mssql" / "ops.register_model.sql"
    params = declared_params(register)
    assert params["@kind"] is False and params["@model_id"] is False  # OUTPUT: still required
    assert declared_params(ROOT / "procedures" / "mssql" / "ops.fail_run.sql") == {
        "@run_id": False, "@model_id": True, "@error": True}
    calls = dict(exec_calls(ROOT / "procedures" / "mssql" / "ops.run_train.sql"))
    assert {"@kind", "@model_name", "@registration", "@model_id"} <= calls["ops.register_model"]
