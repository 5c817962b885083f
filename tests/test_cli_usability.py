"""Issue 22, finding 14: what a new user meets at the command line.

A closed pipe, the help text, a bad --limit, a database name that is not there, and a
stopped embedded server that a command starts: each answered plainly, with no
traceback and no internal message.
"""

import argparse
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy.engine import make_url

from sqlml import cli
from sqlml.paths import project_root

SQLML = [sys.executable, "-m", "sqlml.cli"]


def _subcommands(parser: argparse.ArgumentParser, path=()):
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subcommands(sub, (*path, name))


@pytest.mark.unit
def test_every_positional_argument_has_help_and_the_help_is_plain_text(capsys):
    for path, sub in _subcommands(cli.build_parser()):
        for action in sub._actions:  # noqa: SLF001
            if not action.option_strings and not isinstance(
                    action, argparse._SubParsersAction):  # noqa: SLF001
                assert action.help, f"sqlml {' '.join(path)}: {action.dest} has no help"
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out and "--url defaults to SQLML_DATABASE_URL" in out


@pytest.mark.unit
@pytest.mark.parametrize("argv", [["runs", "--limit", "-1"], ["runs", "--limit", "0"],
                                  ["activate", "churn", "0"], ["forecast", "f", "--horizon", "-2"]])
def test_a_count_below_one_is_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--url", "postgresql+psycopg://nobody@/nodb?host=/nonexistent"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "must be 1 or more" in err and "Traceback" not in err


@pytest.mark.unit
def test_a_closed_pipe_ends_quietly():
    """`sqlml ... | head`: the reader closed the pipe before sqlml wrote."""
    proc = subprocess.Popen([*SQLML, "objects", "status"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=project_root())
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "BrokenPipeError" not in err and "Traceback" not in err and "Exception" not in err


@pytest.mark.postgres
def test_a_database_that_is_not_there_is_not_a_server_that_is_down(pg_url, capsys):
    missing = make_url(pg_url).set(database="sqlml_no_such_database")
    assert cli.main(["models", "--url", missing.render_as_string(hide_password=False)]) == 2
    err = capsys.readouterr().err
    assert 'database "sqlml_no_such_database" does not exist' in err
    assert "no database of that name" in err and "is the database running" not in err


@pytest.mark.postgres
@pytest.mark.slow
def test_a_command_that_starts_the_embedded_server_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SQLML_DATABASE_URL"}
    env["SQLML_STATE_DIR"] = str(tmp_path / "state")
    try:
        first = subprocess.run([*SQLML, "models"], env=env, capture_output=True, text=True,
                               timeout=300, cwd=project_root())
        assert "started the embedded PostgreSQL" in first.stderr, first.stderr
        again = subprocess.run([*SQLML, "models"], env=env, capture_output=True, text=True,
                               timeout=300, cwd=project_root())
        assert "started the embedded PostgreSQL" not in again.stderr  # it was running
    finally:
        subprocess.run([*SQLML, "db", "stop"], env=env, capture_output=True, timeout=120,
                       cwd=project_root())


@pytest.mark.unit
def test_train_prints_one_short_line_not_the_metrics_document(capsys):
    metrics = {"auc": 0.81234, "baseline_auc": 0.8, "feature_importance": [
        {"feature": f"column_{i}", "importance": i / 100} for i in range(60)],
        "curves": {"roc": list(range(200))}}
    assert len(json.dumps(metrics)) > 3000
    row = {"model_id": 7, "model_name": "churn", "version": 2, "status": "active",
           "metrics": json.dumps(metrics)}
    cli._print_rows([cli._trained("churn")(row)])
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and len(out) < 300, out
    assert "metric=auc 0.8123 (baseline 0.8000)" in out and "model_id = 7" in out


# A syntax error in the user's own input query, found before any row is read.
TYPO = "SELECT series_id, period, value FROM features.monthly_usage WHER x"


@pytest.mark.postgres
def test_a_database_error_is_its_message_detail_and_hint_without_the_call_stack(db, pg_url,
                                                                                 capsys):
    """Issue 22, finding 14: the procedures' CONTEXT lines (ops.call, ops.fail_run,
    ops.reraise: routines the user never called) only with --verbose."""
    argv = ["train", "forecaster", "f", "--input-query", TYPO, "--url", pg_url]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("sqlml: input_query has a syntax error")
    assert "ops.reraise" not in err and "PL/pgSQL" not in err and "context" not in err
    assert cli.main(["--verbose", *argv]) == 2
    verbose = capsys.readouterr().err
    assert verbose.startswith(err.splitlines()[0]) and "context:" in verbose
    assert "ops.call" in verbose


@pytest.mark.postgres
def test_a_syntax_error_in_the_input_query_points_into_the_users_own_text(db, pg_url, capsys):
    """The position is the character of the user's query where the parser stopped
    (the 'x' after WHER), not a position in a wrapper the user never wrote."""
    assert cli.main(["train", "forecaster", "f", "--input-query", TYPO, "--url", pg_url]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first == ("sqlml: input_query has a syntax error at character "
                     f"{TYPO.index(' x') + 2}: syntax error at or near \"x\"")


@pytest.mark.unit
def test_the_detail_is_shown_and_the_context_only_when_asked(capsys):
    assert cli._fail("sqlml: refused", None, "the row\nof 3", None) == 2
    assert capsys.readouterr().err == "sqlml: refused\ndetail: the row of 3\n"
    cli._fail("refused", "do this", None, "PL/pgSQL function ops.call line 4\nSQL statement x")
    assert capsys.readouterr().err == ("sqlml: refused\nhint: do this\ncontext:\n"
                                       "  PL/pgSQL function ops.call line 4\n"
                                       "  SQL statement x\n")
