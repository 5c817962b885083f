"""The client's call path over TDS: routines.call and the CLI, with messages before
the result and errors raised inside a procedure."""

from __future__ import annotations

import pytest

from sqlml import cli, routines
from sqlml.deploy import objects, tsql_batches
from sqlml.paths import project_root

from .test_procedures import register, runs

pytestmark = pytest.mark.babelfish

# Stands in for ml.runtime_info on a server without external scripts (gap 4), shaped
# like what SQL Server sends for a procedure whose Python prints: messages, a result
# without rows (Microsoft's ODBC driver makes each message batch a result of its own),
# then the procedure's one result set. (A message sent between two result sets is
# lost by FreeTDS + pyodbc, which report it on the fetch; our procedures send theirs
# before their one result set.)
CHATTY = """CREATE OR ALTER PROCEDURE ml.runtime_info
AS
BEGIN
    SET NOCOUNT ON;
    PRINT N'STDOUT message(s) from external script: ';
    PRINT N'sqlml: read 3 training rows';
    PRINT N'sqlml: epoch 1/2';
    SELECT TOP (0) 1 AS message_batch;
    SELECT N'python' AS component, N'3.12.11' AS version;
END;"""


@pytest.fixture
def chatty_runtime_info(bf):
    with bf.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        tsql_batches.execute(connection, CHATTY)
    yield bf
    real = objects.live_objects(project_root(), "mssql")["ml.runtime_info"].text
    with bf.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        tsql_batches.execute(connection, real)


def test_call_reads_the_result_past_messages_and_relays_them(chatty_runtime_info):
    progress: list[str] = []
    rows = routines.call(chatty_runtime_info, "runtime_info", progress=progress.append)
    assert rows == [{"component": "python", "version": "3.12.11"}]
    assert "read 3 training rows" in progress and "epoch 1/2" in progress


def test_cli_prints_the_row_of_a_call(bf, bf_url, capsys):
    register(bf, "churn", {"auc": 0.8})
    register(bf, "churn", {"auc": 0.9})
    assert cli.main(["activate", "churn", "1", "--url", bf_url]) == 0
    out = capsys.readouterr().out
    assert "model_name=churn" in out and "version=1" in out and "status=active" in out
    assert cli.main(["models", "churn", "--url", bf_url]) == 0
    header, *listed = capsys.readouterr().out.splitlines()
    assert header.split()[:4] == ["model_name", "version", "kind", "status"]
    # Version 2 had no same-rows comparison with version 1, so it stayed a candidate.
    assert [row.split()[:4] for row in listed] == [["churn", "1", "churn", "active"],
                                                   ["churn", "2", "churn", "candidate"]]


def test_cli_reports_an_error_raised_in_a_procedure(bf, bf_url, capsys):
    register(bf, "churn", {"auc": 0.8})
    assert cli.main(["activate", "churn", "9", "--url", bf_url]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("sqlml: model 'churn' has no version 9 (1 version(s) registered) "
                   "(Msg 50401)")
    assert runs(bf)[-1]["status"] == "failed"


def test_cli_progress_goes_to_the_terminal(chatty_runtime_info, capsys):
    rows = routines.call(chatty_runtime_info, "runtime_info", progress=print)
    out = capsys.readouterr().out
    assert out.index("read 3 training rows") < out.index("epoch 1/2")
    assert rows


def test_setup_scripts_prints_reach_the_deploy_log(bf):
    """Deploy runs each sql/mssql/NN_*.sql as one batch; its PRINTs (what it changed,
    what it skipped and why) are relayed to the deploy log, not dropped."""
    logged: list[str] = []
    with bf.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        tsql_batches.run_script(
            connection, "SET NOCOUNT ON;\nPRINT N'sqlml: created role x';\nSELECT 1 AS n;",
            logged.append)
    assert logged[:1] == ["created role x"]
