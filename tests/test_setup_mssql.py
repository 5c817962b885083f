"""sql/mssql setup scripts, held without a SQL Server.

test_tsql_static parses every file; here the SQL that the scripts carry inside
string literals (SQL Agent job steps) is unescaped the way T-SQL would and parsed
too, and checked against the public interface and the ops.runs table.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
import sqlfluff

from sqlml.paths import project_root
from tsql_contract.tsql import tokenize

MSSQL = project_root() / "sql" / "mssql"
JOBS = MSSQL / "40_agent_jobs.sql"
JOB_ID_TOKEN = "$(ESCAPE_NONE(JOBID))"


def string_literals(path) -> list[str]:
    return [t.value for t in tokenize(path.read_text()) if t.kind == "string"]


def job_commands() -> list[str]:
    return [s for s in string_literals(JOBS) if s.startswith("EXEC ml.")]


def failure_step(job: str = "sqlml o'brien: nightly churn scoring") -> str:
    """Step 2's command as SQL Agent receives it: placeholders filled, token replaced."""
    (template,) = [s for s in string_literals(JOBS) if "DECLARE @job_started" in s]
    command = (
        template.replace("{job}", job.replace("'", "''"))
        .replace("{run_type}", "score_churn")
        .replace("{model}", "churn")
    )
    return command.replace(JOB_ID_TOKEN, "0x00112233445566778899AABBCCDDEEFF")


def assert_parses(sql: str) -> None:
    sqlfluff.parse(sql, dialect="tsql")  # raises APIParsingError on unparsable SQL


@pytest.mark.unit
def test_jobs_call_the_public_procedures_with_named_parameters():
    assert job_commands() == [
        "EXEC ml.score_churn @model_name = N'churn';",
        "EXEC ml.train_churn_model @model_name = N'churn', @activate = 1;",
        "EXEC ml.forecast @model_name = N'forecast';",
    ]
    for command in job_commands():
        assert_parses(command)


@pytest.mark.unit
def test_failure_step_parses_once_agent_fills_it_in():
    command = failure_step()
    assert "{" not in command.replace('{"source": "sql_agent"}', "")
    assert "o''brien" in command  # the job name is quoted for the string it lands in
    assert_parses(command)


@pytest.mark.unit
def test_failure_step_uses_the_agent_token_with_an_escape_macro():
    # Since SQL Server 2005 SP1 a job step with a token but no ESCAPE_* macro fails.
    template = next(s for s in string_literals(JOBS) if "DECLARE @job_started" in s)
    assert re.findall(r"\$\((\w+)\(", template) == ["ESCAPE_NONE"]


@pytest.mark.unit
@pytest.mark.parametrize("path", sorted(MSSQL.glob("[0-9][0-9]_*.sql")), ids=lambda p: p.name)
def test_setup_scripts_fit_one_batch(path):
    """Deploy runs each file as one batch: no GO, and no CREATE that must start a batch."""
    text = path.read_text()
    assert not re.search(r"^\s*GO\s*$", text, re.MULTILINE | re.IGNORECASE)
    code = " ".join(t.text for t in tokenize(text) if t.kind != "string")
    assert not re.search(
        r"\bCREATE\s+(OR\s+ALTER\s+)?(PROCEDURE|PROC|FUNCTION|VIEW|TRIGGER|SCHEMA)\b",
        code, re.IGNORECASE,
    ), "statements that must start a batch go through sp_executesql"
    assert code.lstrip().upper().startswith("SET NOCOUNT ON"), (
        "NOCOUNT first: a row count before an error would hide the error from pyodbc"
    )


WRITES = re.compile(r"\b(?:INSERT\s+(?:INTO\s+)?|UPDATE\s+|DELETE\s+(?:FROM\s+)?|MERGE\s+"
                    r"(?:INTO\s+)?|TRUNCATE\s+TABLE\s+)([@#\w.\[\]]+)", re.IGNORECASE)


def written_tables(sql: str) -> set[str]:
    """Tables a T-SQL text writes (table variables, @name, are not tables)."""
    return {t for t in WRITES.findall(sql) if not t.startswith("@")}


@pytest.mark.unit
def test_agent_jobs_write_no_table_directly():
    """Issue 21: the job owner (an operator, docs/agent-jobs.md) may write no table, so
    neither the script nor any job step writes one: the failure step hands its
    findings to ops.record_job_failure, which 30_roles.sql lets an operator run."""
    code = " ".join(t.text for t in tokenize(JOBS.read_text()) if t.kind != "string")
    assert written_tables(code) == set()
    for literal in string_literals(JOBS):
        assert written_tables(literal) == set(), literal[:200]
    assert "EXEC ops.record_job_failure" in failure_step()
    roles = (MSSQL / "30_roles.sql").read_text()
    assert "GRANT EXECUTE ON OBJECT::ops.record_job_failure TO sqlml_operator;" in roles


@pytest.mark.unit
def test_the_writes_check_sees_a_write():
    assert written_tables("UPDATE ops.runs SET status = 1; INSERT INTO @jobs VALUES (1)") == {
        "ops.runs"}


@pytest.mark.unit
def test_roles_revoke_with_cascade_what_is_held_with_grant_option():
    """A permission granted WITH GRANT OPTION is revoked only WITH CASCADE (Msg 4611):
    30_roles.sql adds it where sys.database_permissions says state 'W'."""
    text = (MSSQL / "30_roles.sql").read_text()
    code = " ".join(t.text for t in tokenize(text) if t.kind != "string")
    assert not re.search(r"\bREVOKE\b", code), "every REVOKE is built with its CASCADE"
    assert "p.state = 'W'" in text and "THEN N' CASCADE'" in text
    assert text.count("CASCADE;'") == 2  # the external-script revokes (SQL Server only)


@pytest.mark.postgres
def test_failure_procedure_writes_only_columns_ops_runs_has(db):
    """The same migration creates ops.runs on both engines; its columns are checked here."""
    procedure = (project_root() / "procedures" / "mssql" / "ops.record_job_failure.sql").read_text()
    columns = {c["name"] for c in sa.inspect(db).get_columns("runs", schema="ops")}
    inserts = re.findall(r"INSERT INTO ops\.runs \(([^)]*)\)", procedure)
    assert inserts
    for statement in inserts:
        assert {c.strip() for c in statement.split(",")} <= columns
    updates = re.findall(r"UPDATE ops\.runs\s+SET\s+(.*?)\s+WHERE", procedure, re.S)
    assert updates
    for assignments in updates:
        assigned = re.findall(r"^\s*(\w+) = ", assignments, re.M)
        assert assigned and set(assigned) <= columns


@pytest.mark.unit
def test_smoke_trains_the_model_the_nightly_job_scores():
    """Issue 21: the smoke script started the nightly job after training only
    smoke_churn, so on a healthy server the job's step failed (no model churn)."""
    import inspect
    import sys

    sys.path.insert(0, str(project_root() / "scripts"))
    try:
        import mssql_smoke
    finally:
        sys.path.pop(0)
    [scored] = re.findall(r"EXEC ml\.score_churn @model_name = N'(\w+)';", " ".join(job_commands()))
    source = inspect.getsource(mssql_smoke.Smoke.agent_job)
    assert f'self._train("train_churn_model", "{scored}"' in source
    assert source.index("_train(") < source.index("sp_start_job @job_name")
    assert f"model_name = N'{scored}'" in source  # waits for the job's own run
