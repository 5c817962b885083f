"""The imported-model procedures' T-SQL, executed on Babelfish: their CREATE (at deploy),
every error path that ends before sp_execute_external_script (gap 4), the analyst
view, and a promotion registered through ops.register_model with its lineage."""

from __future__ import annotations

import base64
import json

import pytest
import sqlalchemy as sa

from sqlml import artifacts, promotion, routines
from sqlml.deploy.tsql_batches import BABELFISH_GAPS

from .test_procedures import register, runs, versions

pytestmark = pytest.mark.babelfish


def test_predict_without_a_model_fails_clearly_and_is_recorded(bf):
    with pytest.raises(sa.exc.DBAPIError, match="model 'acme' not found"):
        routines.call(bf, "predict", model_name="acme", input_query="SELECT 1 AS id")
    [run] = runs(bf)
    assert (run["run_type"], run["model_name"], run["status"]) == ("predict", "acme", "failed")


def test_predict_needs_an_input_query_and_an_imported_model(bf):
    register(bf, "acme", {"imported": 1}, kind="imported")
    with pytest.raises(sa.exc.DBAPIError, match="input_query is required"):
        routines.call(bf, "predict", model_name="acme")
    register(bf, "churn", {"auc": 0.8})
    with pytest.raises(sa.exc.DBAPIError, match="is a churn model, not a imported model"):
        routines.call(bf, "predict", model_name="churn", input_query="SELECT 1 AS id")
    assert [r["status"] for r in runs(bf)] == ["failed", "failed"]


def test_an_imported_version_with_activate_replaces_the_active_one_and_says_why(bf):
    """No baseline, no same-rows comparison for kind imported (issue 26's rule reads
    neither): activate decides, and both reasons say what happened."""
    first = register(bf, "acme", {"imported": 1}, kind="imported")
    assert first["status"] == "active"
    assert register(bf, "acme", {"imported": 1}, activate=False, kind="imported")[
        "status"] == "candidate"
    third = register(bf, "acme", {"imported": 1}, kind="imported")
    assert third["status"] == "active" and "replacing version 1" in third["status_reason"]
    assert versions(bf, "acme") == {1: "retired", 2: "candidate", 3: "active"}


def test_import_of_null_is_refused_and_the_run_keeps_no_blob(bf):
    with pytest.raises(sa.exc.DBAPIError, match="model is NULL"):
        routines.call(bf, "import_model", model_name="acme", model=None, options="{}")
    [run] = runs(bf)
    assert (run["run_type"], run["status"]) == ("import_model", "failed")
    with bf.connect() as connection:
        params = json.loads(connection.execute(sa.text("SELECT params FROM ops.runs")).scalar_one())
    assert params["model_bytes"] is None and "model" not in params


@pytest.mark.xfail(strict=True, reason=BABELFISH_GAPS[4])
def test_import_model_runs_the_embedded_python(bf):
    routines.call(bf, "import_model", model_name="acme", model=b"\x08\x07", options="{}")


@pytest.mark.xfail(strict=True, reason=BABELFISH_GAPS[4])
def test_predict_runs_the_embedded_python(bf):
    register(bf, "acme", {"imported": 1}, kind="imported")
    routines.call(bf, "predict", model_name="acme", input_query="SELECT 1 AS id")


def test_scores_latest_shows_each_rows_latest_score_with_its_version(bf):
    first = register(bf, "acme", {"imported": 1}, kind="imported")
    second = register(bf, "acme", {"imported": 1}, kind="imported")
    with bf.begin() as connection:
        for run, model in ((1, first), (2, second)):
            connection.execute(sa.text(
                "SET IDENTITY_INSERT ops.runs ON; INSERT INTO ops.runs (run_id, run_type, "
                "model_name, status) VALUES (:r, N'predict', N'acme', N'succeeded'); "
                "SET IDENTITY_INSERT ops.runs OFF"), {"r": run})
            connection.execute(sa.text(
                "INSERT INTO predictions.model_scores (run_id, model_id, row_id, score, label) "
                "VALUES (:r, :m, N'7', :s, N'1')"), {"r": run, "m": model["model_id"],
                                                    "s": 0.25 * run})
    with bf.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT model_name, version, row_id, score, label FROM predictions.scores_latest"
        )).all()
    assert [tuple(r) for r in rows] == [("acme", 2, "7", 0.5, "1")]


def test_a_promoted_version_is_registered_with_its_lineage(bf, tmp_path):
    register(bf, "acme", {"imported": 1}, kind="imported")
    artifact, onnx_artifact = b"original onnx", b"scoring onnx"
    registry = {
        "model_name": "acme", "version": 3, "kind": "imported", "status": "active",
        "spec": {"kind": "imported", "options": {}}, "metrics": {"imported": 1},
        "feature_schema": {"kind": "imported"}, "trained_rows": 0, "training_seconds": 0.1,
        "device": "imported", "created_at": "2026-12-06", "created_by": "dev",
        "artifact_sha256": artifacts.sha256(artifact),
        "onnx_sha256": artifacts.sha256(onnx_artifact),
    }
    lineage = {"source": "postgresql://laptop/dev", "model_id": 9, "model_name": "acme",
               "version": 3, "onnx_sha256": registry["onnx_sha256"]}
    path = tmp_path / "acme.sqlml.json"
    path.write_text(json.dumps({
        "format": promotion.FORMAT, "registry": registry, "lineage": lineage,
        "blobs": {"artifact": base64.b64encode(artifact).decode(),
                  "onnx_artifact": base64.b64encode(onnx_artifact).decode()},
        "sha256": {"artifact": registry["artifact_sha256"],
                   "onnx_artifact": registry["onnx_sha256"]},
    }))
    row = promotion.import_export(bf, path, "acme", activate=True)
    assert (row["version"], row["status"]) == (2, "active")
    with bf.connect() as connection:
        stored = connection.execute(sa.text(
            "SELECT lineage, onnx_artifact, onnx_sha256 FROM models.registry "
            "WHERE model_name = N'acme' AND version = 2")).one()
    assert json.loads(stored.lineage) == lineage
    assert bytes(stored.onnx_artifact) == onnx_artifact
