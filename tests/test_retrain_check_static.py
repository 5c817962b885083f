"""The retraining check's jobs, read from the files (issue 26): the SQL Agent step and
the pg_cron command call ops.retrain_check with every figure a DBA sets, parse, and
are created disabled."""

import re

import pytest
import sqlfluff

from sqlml.paths import project_root

pytestmark = pytest.mark.unit

ROOT = project_root()
AGENT = (ROOT / "sql" / "mssql" / "40_agent_jobs.sql").read_text()
CRON = (ROOT / "sql" / "postgres" / "40_cron_jobs.sql").read_text()
FIGURES = ("evaluate_query", "max_drop", "drift_runs", "max_age_days")


def test_the_agent_step_parses_and_is_created_disabled():
    pieces = re.search(r"N'retrain_check', N'churn',\s*((?:N'(?:[^']|'')*'\s*\+?\s*)+),",
                       AGENT).group(1)
    command = "".join(p.replace("''", "'") for p in re.findall(r"N'((?:[^']|'')*)'", pieces))
    assert command.startswith("EXEC ops.retrain_check @model_name = N'churn'")
    for name in FIGURES:
        assert f"@{name} = " in command
    sqlfluff.parse(command, dialect="tsql")
    assert "@enabled = IIF(@key = N'retrain_check', 0, 1)" in AGENT


def test_the_cron_job_calls_the_check_and_starts_inactive():
    entry = re.search(r"\('sqlml-retrain-check', '([^']+)',(.*?), (true|false)\)", CRON, re.S)
    assert entry and entry.group(3) == "false"
    command = "".join(re.findall(r"'((?:[^']|'')*)'", entry.group(2))).replace("''", "'")
    assert command.startswith("SELECT * FROM ops.retrain_check(model_name => 'churn'")
    for name in FIGURES:
        assert f"{name} => " in command
    sqlfluff.parse(command, dialect="postgres")
