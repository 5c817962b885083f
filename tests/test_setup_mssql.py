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


@pytest.mark.postgres
def test_failure_step_writes_only_columns_ops_runs_has(db):
    """The same migration creates ops.runs on both engines; its columns are checked here."""
    columns = {c["name"] for c in sa.inspect(db).get_columns("runs", schema="ops")}
    for statement in re.findall(r"INSERT INTO ops\.runs \(([^)]*)\)", failure_step()):
        assert {c.strip() for c in statement.split(",")} <= columns
    for assignments in re.findall(r"UPDATE ops\.runs\s+SET (.*?)\s+WHERE", failure_step(), re.S):
        assert {a.split("=")[0].strip() for a in assignments.split(",")
                if "=" in a.split("'")[0]} <= columns
