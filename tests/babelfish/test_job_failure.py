"""ops.record_job_failure, the SQL Agent jobs' failure step's writes (issue 21),
executed: Babelfish has no SQL Agent (gap 4), so the step's msdb reads cannot run
here, but what it hands the procedure can."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.babelfish

RECORD = ("EXEC ops.record_job_failure @job_name = ?, @run_type = ?, @model_name = ?, "
          "@job_started = NULL, @step_message = ?")


def record(engine, run_type="score_churn", message="Msg 50404: no active model"):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(RECORD, ("sqlml db: nightly churn scoring", run_type,
                                            "churn", message))


def runs(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(sa.text(
            "SELECT run_type, model_name, status, error FROM ops.runs ORDER BY run_id"))]


def test_a_job_that_left_no_run_gets_a_failed_one(bf):
    record(bf)
    [(run_type, model, status, error)] = runs(bf)
    assert (run_type, model, status) == ("score_churn", "churn", "failed")
    assert "failed before the procedure recorded a run: Msg 50404" in error


def test_a_run_the_job_left_running_is_closed_not_doubled(bf):
    with bf.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(
            "INSERT INTO ops.runs (run_type, model_name, status) "
            "VALUES ('score_churn', 'churn', 'running')")
    record(bf, message=None)
    [(_, _, status, error)] = runs(bf)
    assert status == "failed"
    assert error.endswith("ended before the run finished: see the job history")


def test_only_the_jobs_run_types(bf):
    with pytest.raises(sa.exc.DBAPIError, match="no SQL Agent job runs activate_model"):
        record(bf, run_type="activate_model")
    assert runs(bf) == []
