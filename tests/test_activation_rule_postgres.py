"""The activation rule on PostgreSQL, on registration documents built here: the figures
training would hand ops.register_model, so each branch of the rule is held exactly
(training itself makes them in test_champion_postgres.py)."""

import json

import pytest

from sql_helpers import call

pytestmark = pytest.mark.postgres


def register(engine, metrics: dict, name="churn", kind="churn", activate=True, margin=None):
    options = {} if margin is None else {"activation_margin": margin}
    registration = {"artifact_sha256": "a" * 64, "onnx_sha256": "b" * 64,
                    "spec": {"options": options}, "metrics": metrics,
                    "feature_schema": {}, "trained_rows": 100, "training_seconds": 1.0,
                    "device": "CPU"}
    [row] = call(engine, "SELECT * FROM ops.register_model(:kind, :name, '\\x504b'::bytea,"
                         " '\\x504b'::bytea, CAST(:reg AS jsonb), :activate)",
                 kind=kind, name=name, reg=json.dumps(registration), activate=activate)
    return row


def active_id(engine, name="churn"):
    [row] = call(engine, "SELECT model_id, version FROM models.registry "
                         "WHERE model_name = :n AND status = 'active'", n=name)
    return row


def same_rows(engine, challenger, champion, name="churn", metric="auc", rows=300):
    active = active_id(engine, name)
    return {"champion_model_id": active["model_id"], "champion_version": active["version"],
            "metric": metric, "challenger": challenger, "champion": champion, "rows": rows,
            "rows_from": "the challenger's validation split"}


def statuses(engine, name="churn"):
    return {r["version"]: r["status"] for r in call(
        engine, "SELECT version, status FROM models.registry WHERE model_name = :n", n=name)}


def test_a_version_that_loses_to_its_baseline_never_replaces_one(db):
    """The first version is activated all the same (scoring needs one), and says so;
    a later one that loses to its own baseline stays a candidate, same rows or not."""
    row = register(db, {"auc": 0.80, "baseline_auc": 0.81})
    assert (row["version"], row["status"]) == (1, "active")
    assert row["status_reason"] == (
        "activated: first active version (validation auc 0.8000, baseline 0.8100); it does "
        "not beat its baseline, so the next version that does replaces it")
    row = register(db, {"auc": 0.805, "baseline_auc": 0.81,
                        "same_rows": same_rows(db, 0.805, 0.70)})
    assert row["status"] == "candidate"
    assert row["status_reason"] == ("candidate: validation auc 0.8050 does not beat its "
                                    "baseline's 0.8100")


def test_wins_on_its_own_split_but_loses_on_the_same_rows(db):
    register(db, {"auc": 0.80, "baseline_auc": 0.70})
    # The old rule: 0.90 >= 0.80 would have activated it. On its own rows the
    # active version scores 0.93.
    row = register(db, {"auc": 0.90, "baseline_auc": 0.70,
                        "same_rows": same_rows(db, 0.90, 0.93)})
    assert row["status"] == "candidate"
    assert row["status_reason"] == (
        "candidate: auc 0.9000 does not beat active version 1's 0.9300 on the same 300 rows "
        "(the challenger's validation split), margin 0.0000")
    assert statuses(db) == {1: "active", 2: "candidate"}


def test_loses_on_its_own_split_but_wins_on_the_same_rows(db):
    register(db, {"auc": 0.95, "baseline_auc": 0.70})
    row = register(db, {"auc": 0.75, "baseline_auc": 0.70,
                        "same_rows": same_rows(db, 0.75, 0.55)})
    assert row["status"] == "active"
    assert row["status_reason"] == (
        "activated: auc 0.7500 beats active version 1's 0.5500 on the same 300 rows "
        "(the challenger's validation split), margin 0.0000")
    [old] = call(db, "SELECT status, status_reason FROM models.registry WHERE version = 1")
    assert old["status"] == "retired"
    assert old["status_reason"].startswith("retired: replaced by version 2 (auc 0.7500 "
                                           "against 0.5500 on the same 300 rows")


def test_ties_and_the_margin_keep_the_champion(db):
    register(db, {"auc": 0.80, "baseline_auc": 0.70})
    tie = register(db, {"auc": 0.85, "baseline_auc": 0.70,
                        "same_rows": same_rows(db, 0.85, 0.85)})
    assert tie["status"] == "candidate" and tie["status_reason"].endswith(
        "; a tie keeps the active version")
    short = register(db, {"auc": 0.86, "baseline_auc": 0.70,
                          "same_rows": same_rows(db, 0.86, 0.85)}, margin=0.02)
    assert short["status"] == "candidate" and "margin 0.0200" in short["status_reason"]
    wide = register(db, {"auc": 0.88, "baseline_auc": 0.70,
                         "same_rows": same_rows(db, 0.88, 0.85)}, margin=0.02)
    assert wide["status"] == "active"


def test_lower_is_better_for_the_forecasters_mase(db):
    register(db, {"mase": 0.9, "baseline_mase": 1.0}, name="f", kind="forecaster")
    worse = register(db, {"mase": 0.8, "baseline_mase": 1.0,
                          "same_rows": same_rows(db, 0.8, 0.7, "f", "mase", 144)},
                     name="f", kind="forecaster")
    assert worse["status"] == "candidate"
    better = register(db, {"mase": 0.8, "baseline_mase": 1.0,
                           "same_rows": same_rows(db, 0.8, 0.95, "f", "mase", 144)},
                      name="f", kind="forecaster")
    assert better["status"] == "active"
    # losing to seasonal naive (a higher MASE) keeps a version from replacing one
    assert register(db, {"mase": 1.1, "baseline_mase": 1.0,
                         "same_rows": same_rows(db, 1.1, 2.0, "f", "mase", 144)},
                    name="f", kind="forecaster")["status"] == "candidate"


def test_without_a_same_rows_comparison_the_champion_stays(db):
    register(db, {"auc": 0.80, "baseline_auc": 0.70})
    row = register(db, {"auc": 0.99, "baseline_auc": 0.70})
    assert row["status_reason"] == ("candidate: not compared with active version 1 on the "
                                    "same rows (training made no comparison)")
    failed = {**same_rows(db, 0.99, 0.5), "champion": None,
              "error": "InputError: input has no 'tenure' column"}
    row = register(db, {"auc": 0.99, "baseline_auc": 0.70, "same_rows": failed})
    assert row["status"] == "candidate" and row["status_reason"].endswith(
        "(InputError: input has no 'tenure' column)")


def test_a_comparison_with_a_version_no_longer_active_does_not_count(db):
    register(db, {"auc": 0.80, "baseline_auc": 0.70})
    stale = same_rows(db, 0.95, 0.60)
    register(db, {"auc": 0.90, "baseline_auc": 0.70, "same_rows": same_rows(db, 0.90, 0.80)})
    row = register(db, {"auc": 0.95, "baseline_auc": 0.70, "same_rows": stale})
    assert row["status"] == "candidate"
    assert "compared with version 1, which is no longer the active one" in row["status_reason"]


def test_a_rollback_is_pinned_until_a_challenger_beats_it_on_the_same_rows(db):
    """The defect: after `sqlml activate churn_small 1`, the next training re-promoted a
    new version on a tie, so the weekly job undid every rollback."""
    register(db, {"auc": 0.80, "baseline_auc": 0.70})
    register(db, {"auc": 0.85, "baseline_auc": 0.70, "same_rows": same_rows(db, 0.85, 0.80)})
    call(db, "SELECT * FROM ml.activate_model(model_name => 'churn', version => 1)")
    [pinned] = call(db, "SELECT pinned, status_reason FROM models.registry WHERE version = 1")
    assert pinned["pinned"] and "pinned" in pinned["status_reason"]
    tie = register(db, {"auc": 0.8981, "baseline_auc": 0.70,
                        "same_rows": same_rows(db, 0.8981, 0.8981)})
    assert tie["status"] == "candidate"
    assert tie["status_reason"].endswith(
        "; version 1 was pinned by ml.activate_model and stays until a version beats it by "
        "the margin on the same rows")
    assert statuses(db) == {1: "active", 2: "retired", 3: "candidate"}
    win = register(db, {"auc": 0.91, "baseline_auc": 0.70,
                        "same_rows": same_rows(db, 0.91, 0.8981)})
    assert win["status"] == "active"
    assert win["status_reason"].endswith("; version 1 had been pinned by ml.activate_model")
    [v1] = call(db, "SELECT status, pinned FROM models.registry WHERE version = 1")
    assert (v1["status"], v1["pinned"]) == ("retired", False)
