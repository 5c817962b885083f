"""The T-SQL procedures that need no Python, executed: the run log, the registry with
its activation rule, activation and rollback, and every error path that ends before
sp_execute_external_script (which Babelfish lacks: gap 4)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from sqlml import routines
from sqlml.deploy.tsql_batches import BABELFISH_GAPS

pytestmark = pytest.mark.babelfish

REGISTER = """
SET NOCOUNT ON;
DECLARE @model_id BIGINT, @version INT, @status NVARCHAR(16), @status_reason NVARCHAR(MAX);
BEGIN TRANSACTION;
EXEC ops.register_model
    @kind = ?, @model_name = ?, @artifact = 0x504B01, @onnx_artifact = 0x504B02,
    @registration = ?, @activate = ?, @model_id = @model_id OUTPUT,
    @version = @version OUTPUT, @status = @status OUTPUT,
    @status_reason = @status_reason OUTPUT;
COMMIT TRANSACTION;
SELECT @model_id AS model_id, @version AS version, @status AS status,
       @status_reason AS status_reason;
"""


def registration(metrics: dict, options: dict | None = None) -> str:
    return json.dumps({
        "artifact_sha256": "a" * 64, "onnx_sha256": "b" * 64,
        "spec": {"options": options or {}}, "metrics": metrics,
        "feature_schema": {"columns": []}, "trained_rows": 100,
        "training_seconds": 1.5, "device": "cpu",
    })


def register(engine, name: str, metrics: dict, activate: bool = True, kind: str = "churn",
             options: dict | None = None) -> dict:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        (row,) = routines.execute_tsql(connection, REGISTER,
                                       [kind, name, registration(metrics, options), activate])
    return row


def versions(engine, name: str) -> dict[int, str]:
    with engine.connect() as connection:
        return dict(connection.execute(sa.text(
            "SELECT version, status FROM models.registry WHERE model_name = :n"), {"n": name}
        ).all())


def runs(engine) -> list[dict]:
    with engine.connect() as connection:
        return [dict(r) for r in connection.execute(sa.text(
            "SELECT run_type, model_name, status, error FROM ops.runs ORDER BY run_id")
        ).mappings()]


def active_id(engine, name: str) -> tuple[int, int]:
    with engine.connect() as connection:
        return tuple(connection.execute(sa.text(
            "SELECT model_id, version FROM models.registry WHERE model_name = :n "
            "AND status = 'active'"), {"n": name}).one())


def same_rows(engine, name: str, challenger: float, champion: float, metric: str = "auc",
              rows: int = 300) -> dict:
    """metrics.same_rows as training records it: the active version on the new one's rows."""
    model_id, version = active_id(engine, name)
    return {"champion_model_id": model_id, "champion_version": version, "metric": metric,
            "challenger": challenger, "champion": champion, "rows": rows,
            "rows_from": "the challenger's validation split"}


def test_first_version_becomes_active(bf):
    row = register(bf, "churn", {"auc": 0.8})
    assert (row["version"], row["status"]) == (1, "active")
    assert row["status_reason"] == "activated: first active version (validation auc 0.8000)"


def test_a_version_that_does_not_beat_its_baseline_never_replaces_one(bf):
    row = register(bf, "churn", {"auc": 0.8981, "baseline_auc": 0.8982})
    assert (row["status"], row["status_reason"]) == ("active", (
        "activated: first active version (validation auc 0.8981, baseline 0.8982); it does "
        "not beat its baseline, so the next version that does replaces it"))
    row = register(bf, "churn", {"auc": 0.8985, "baseline_auc": 0.899})
    assert (row["status"], row["status_reason"]) == (
        "candidate", "candidate: validation auc 0.8985 does not beat its baseline's 0.8990")


def test_wins_on_its_own_split_but_loses_on_the_same_rows(bf):
    """The defect of issue 26 (and, before it, the one Babelfish found: every activate = 1
    replaced the active version, however bad)."""
    register(bf, "churn", {"auc": 0.8})
    row = register(bf, "churn", {"auc": 0.9, "same_rows": same_rows(bf, "churn", 0.9, 0.93)})
    assert row["status"] == "candidate"
    assert row["status_reason"] == (
        "candidate: auc 0.9000 does not beat active version 1's 0.9300 on the same 300 rows "
        "(the challenger's validation split), margin 0.0000")
    assert versions(bf, "churn") == {1: "active", 2: "candidate"}


def test_loses_on_its_own_split_but_wins_on_the_same_rows(bf):
    register(bf, "churn", {"auc": 0.95})
    row = register(bf, "churn", {"auc": 0.75, "same_rows": same_rows(bf, "churn", 0.75, 0.55)})
    assert row["status"] == "active"
    assert row["status_reason"] == (
        "activated: auc 0.7500 beats active version 1's 0.5500 on the same 300 rows "
        "(the challenger's validation split), margin 0.0000")
    assert versions(bf, "churn") == {1: "retired", 2: "active"}


def test_ties_and_the_margin_keep_the_champion(bf):
    register(bf, "churn", {"auc": 0.8})
    tie = register(bf, "churn", {"auc": 0.85, "same_rows": same_rows(bf, "churn", 0.85, 0.85)})
    assert tie["status"] == "candidate"
    assert tie["status_reason"].endswith("; a tie keeps the active version")
    short = register(bf, "churn", {"auc": 0.86, "same_rows": same_rows(bf, "churn", 0.86, 0.85)},
                     options={"activation_margin": 0.02})
    assert short["status"] == "candidate" and "margin 0.0200" in short["status_reason"]
    wide = register(bf, "churn", {"auc": 0.88, "same_rows": same_rows(bf, "churn", 0.88, 0.85)},
                    options={"activation_margin": 0.02})
    assert wide["status"] == "active"


def test_without_a_comparison_on_the_same_rows_the_champion_stays(bf):
    register(bf, "churn", {"auc": 0.8})
    row = register(bf, "churn", {"auc": 0.99})
    assert row["status_reason"] == ("candidate: not compared with active version 1 on the "
                                    "same rows (training made no comparison)")


def test_a_rollback_is_pinned_until_beaten_on_the_same_rows(bf):
    register(bf, "churn", {"auc": 0.8})
    register(bf, "churn", {"auc": 0.85, "same_rows": same_rows(bf, "churn", 0.85, 0.8)})
    routines.call(bf, "activate_model", model_name="churn", version=1)
    tie = register(bf, "churn", {"auc": 0.8981,
                                 "same_rows": same_rows(bf, "churn", 0.8981, 0.8981)})
    assert tie["status"] == "candidate" and tie["status_reason"].endswith(
        "; version 1 was pinned by ml.activate_model and stays until a version beats it by "
        "the margin on the same rows")
    win = register(bf, "churn", {"auc": 0.91, "same_rows": same_rows(bf, "churn", 0.91, 0.8981)})
    assert win["status"] == "active"
    assert win["status_reason"].endswith("; version 1 had been pinned by ml.activate_model")
    assert versions(bf, "churn") == {1: "retired", 2: "retired", 3: "candidate", 4: "active"}


def test_lower_is_better_for_the_forecasters_mase(bf):
    register(bf, "forecast", {"mase": 0.9}, kind="forecaster")
    worse = register(bf, "forecast", {"mase": 0.8, "same_rows": same_rows(
        bf, "forecast", 0.8, 0.7, "mase")}, kind="forecaster")
    better = register(bf, "forecast", {"mase": 0.8, "same_rows": same_rows(
        bf, "forecast", 0.8, 0.95, "mase")}, kind="forecaster")
    assert (worse["status"], better["status"]) == ("candidate", "active")
    assert versions(bf, "forecast") == {1: "retired", 2: "candidate", 3: "active"}


def test_activate_zero_registers_a_candidate(bf):
    row = register(bf, "churn", {"auc": 0.99}, activate=False)
    assert (row["status"], row["status_reason"]) == (
        "candidate", "candidate: trained with activate = 0")


def test_a_name_keeps_its_kind(bf):
    register(bf, "churn", {"auc": 0.8})
    with pytest.raises(sa.exc.DBAPIError, match="is a churn model; choose another name"):
        register(bf, "churn", {"mase": 0.8}, kind="forecaster")
    assert versions(bf, "churn") == {1: "active"}


def test_activate_model_rolls_back_to_an_earlier_version(bf):
    register(bf, "churn", {"auc": 0.8})
    register(bf, "churn", {"auc": 0.9})
    (row,) = routines.call(bf, "activate_model", model_name="churn", version=1)
    assert (row["version"], row["status"]) == (1, "active")
    # Version 2 had no same-rows comparison, so it stayed a candidate (issue 26).
    assert versions(bf, "churn") == {1: "active", 2: "candidate"}
    assert runs(bf)[-1] == {"run_type": "activate_model", "model_name": "churn",
                            "status": "succeeded", "error": None}


def test_a_failed_call_is_recorded_in_ops_runs(bf):
    """routines.call runs in autocommit: with pyodbc's default (autocommit off) the
    driver opened an implicit transaction whose rollback also removed the row
    ops.fail_run wrote, so failed runs were never recorded."""
    register(bf, "churn", {"auc": 0.8})
    with pytest.raises(sa.exc.DBAPIError, match="has no version 7"):
        routines.call(bf, "activate_model", model_name="churn", version=7)
    (run,) = runs(bf)
    assert run["status"] == "failed"
    assert run["error"] == "sqlml: model 'churn' has no version 7 (1 version(s) registered)"
    assert versions(bf, "churn") == {1: "active"}


def test_score_churn_without_a_model_fails_clearly_and_is_recorded(bf):
    with pytest.raises(sa.exc.DBAPIError, match="model 'nobody' not found"):
        routines.call(bf, "score_churn", model_name="nobody")
    register(bf, "candidate_only", {"auc": 0.8}, activate=False)
    with pytest.raises(sa.exc.DBAPIError, match="has no active version"):
        routines.call(bf, "score_churn", model_name="candidate_only")
    assert [(r["run_type"], r["status"]) for r in runs(bf)] == [
        ("score_churn", "failed"), ("score_churn", "failed")]


def test_forecast_refuses_a_horizon_beyond_training(bf):
    register(bf, "forecast", {"mase": 0.9}, kind="forecaster", options={"horizon": 12})
    with pytest.raises(sa.exc.DBAPIError, match="horizon 99 is beyond"):
        routines.call(bf, "forecast", model_name="forecast", horizon=99)
    (run,) = runs(bf)
    assert run["status"] == "failed" and "1 to 12 periods" in run["error"]


def test_score_churn_wrong_kind(bf):
    register(bf, "forecast", {"mase": 0.9}, kind="forecaster")
    with pytest.raises(sa.exc.DBAPIError, match="is a forecaster model, not a churn model"):
        routines.call(bf, "score_churn", model_name="forecast")


@pytest.mark.xfail(strict=True, reason=BABELFISH_GAPS[4])
def test_score_churn_runs_the_embedded_python(bf):
    register(bf, "churn", {"auc": 0.8})
    routines.call(bf, "score_churn", model_name="churn")


@pytest.mark.parametrize("explain", [-1, 21])
def test_score_churn_refuses_explain_out_of_bounds_before_any_work(bf, explain):
    """THROW 50502 from the spec's limits.max_explain; the CATCH block records the run
    with its parameters, and no score or reason is written."""
    register(bf, "churn", {"auc": 0.8})
    with pytest.raises(sa.exc.DBAPIError, match=r"explain must be 0 to 20 \(reasons kept"):
        routines.call(bf, "score_churn", model_name="churn", explain=explain)
    [run] = runs(bf)
    assert (run["run_type"], run["status"]) == ("score_churn", "failed")
    assert "explain must be 0 to 20" in run["error"]
    with bf.connect() as connection:
        params = connection.execute(sa.text("SELECT params FROM ops.runs")).scalar_one()
        written = connection.execute(sa.text(
            "SELECT (SELECT COUNT(*) FROM predictions.churn_scores)"
            " + (SELECT COUNT(*) FROM predictions.churn_reasons)")).scalar_one()
    assert json.loads(params)["explain"] == explain and written == 0


@pytest.mark.xfail(strict=True, reason=BABELFISH_GAPS[4])
def test_score_churn_with_explain_runs_the_embedded_python(bf):
    register(bf, "churn", {"auc": 0.8})
    routines.call(bf, "score_churn", model_name="churn", explain=3)


@pytest.mark.parametrize("login_time, status, error", [
    # the next call on this session id sees an earlier login's run left open
    ("'2000-01-01'", "abandoned", "session"),
    # a cancel or query timeout ends the batch without its CATCH block: the session's
    # next call closes the run it left open
    ("(SELECT s.login_time FROM sys.dm_exec_sessions AS s WHERE s.session_id = @@SPID)",
     "failed", "cancelled or timed out"),
], ids=["session ended", "cancelled"])
def test_a_run_left_open_is_closed_by_the_sessions_next_call(bf, login_time, status, error):
    with bf.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(
            "INSERT INTO ops.runs (run_type, model_name, session_id, login_time) "
            f"VALUES (N'score_churn', N'left open', @@SPID, {login_time})")
        with pytest.raises(sa.exc.DBAPIError):
            routines.execute_tsql(connection, "EXEC ml.activate_model @model_name = N'x', "
                                              "@version = 1")
        found = connection.exec_driver_sql(
            "SELECT status, error FROM ops.runs WHERE model_name = N'left open'").one()
    assert found[0] == status and error in found[1]


def test_a_running_run_of_another_live_session_is_left_alone(bf):
    with bf.connect().execution_options(isolation_level="AUTOCOMMIT") as other, \
            bf.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        other.exec_driver_sql(
            "INSERT INTO ops.runs (run_type, model_name, session_id, login_time) "
            "SELECT N'score_churn', N'live', s.session_id, s.login_time "
            "FROM sys.dm_exec_sessions AS s WHERE s.session_id = @@SPID")
        with pytest.raises(sa.exc.DBAPIError):
            routines.execute_tsql(connection, "EXEC ml.activate_model @model_name = N'x', "
                                              "@version = 1")
        status = connection.exec_driver_sql(
            "SELECT status FROM ops.runs WHERE model_name = N'live'").scalar_one()
    assert status == "running"


def test_fail_run_records_the_error_being_handled(bf):
    with bf.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        routines.execute_tsql(connection, """
            SET NOCOUNT ON;
            DECLARE @run_id BIGINT;
            EXEC ops.begin_run @run_type = N'train_churn_model', @model_name = N'm',
                @params = NULL, @run_id = @run_id OUTPUT;
            BEGIN TRY
                THROW 50999, N'sqlml: the sentence our code raised', 1;
            END TRY
            BEGIN CATCH
                EXEC ops.fail_run @run_id = @run_id;
            END CATCH;
            -- a run that is no longer running keeps its ending
            EXEC ops.fail_run @run_id = @run_id, @error = N'a later error';""")
    assert runs(bf) == [{"run_type": "train_churn_model", "model_name": "m",
                         "status": "failed", "error": "sqlml: the sentence our code raised"}]


@pytest.mark.parametrize("routine, params", [
    ("activate_model", {"version": 1}),
    ("score_churn", {}),
    ("forecast", {}),
    ("train_churn_model", {}),
])
def test_a_too_long_model_name_is_a_clean_error_with_its_run(bf, routine, params):
    """A parameter declared NVARCHAR(128) would silently cut a longer name (and act on
    another model); the procedures take up to 4000 characters and refuse past 128."""
    with pytest.raises(sa.exc.DBAPIError, match=r"model_name must be 1 to 128 characters "
                                                 r"\(got 300\)"):
        routines.call(bf, routine, model_name="m" * 300, **params)
    (run,) = runs(bf)
    assert run["status"] == "failed" and run["model_name"] == "m" * 128
