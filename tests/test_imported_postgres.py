"""Imported models end to end on PostgreSQL: ml.import_model, ml.predict, the analyst
view, the refusals, drift, roles and atomicity, as users call them."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import imported_models as im
from sql_helpers import call, count, runs
from sqlml import cli
from sqlml.demo.bulk import insert_frame

pytestmark = pytest.mark.postgres

TABLE = "features.imported_customers"
QUERY = f"SELECT * FROM {TABLE}"
IMPORT = ("SELECT * FROM ml.import_model(model_name => :name, model => :model, "
          "options => :options, activate => :activate)")
PREDICT = "SELECT * FROM ml.predict(model_name => :name, input_query => :query)"
OPTIONS = json.dumps({"task": "classification", "id_column": "customer_id"})


def load(engine, frame, table=TABLE):
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        connection.exec_driver_sql(
            f"CREATE TABLE {table} (customer_id bigint PRIMARY KEY, plan text, region text, "
            "tenure float8, monthly_charges float8, support_calls integer)")
    insert_frame(engine, table, frame)
    return engine


@pytest.fixture
def split(db):
    """Training rows for the notebook, held-back rows in the database."""
    frame, label = im.customers(900, seed=25)
    train, held = frame.iloc[:600], frame.iloc[600:].reset_index(drop=True)
    load(db, held)
    return db, train, label[:600], held


def import_model(engine, blob, name="acme", options=OPTIONS, activate=True):
    [row] = call(engine, IMPORT, name=name, model=blob, options=options, activate=activate)
    return row


def predict(engine, name="acme", query=QUERY):
    [row] = call(engine, PREDICT, name=name, query=query)
    return row


def latest(engine, name="acme"):
    return call(engine, "SELECT row_id, score, label, version FROM predictions.scores_latest "
                        "WHERE model_name = :name ORDER BY row_id::bigint", name=name)


def test_acceptance_cli_import_then_predict_matches_predict_proba(split, pg_url, tmp_path,
                                                                   capsys):
    engine, train, label, held = split
    pipeline, blob = im.sklearn_pipeline(train, label)
    path = tmp_path / "churn_pipeline.onnx"
    path.write_bytes(blob)
    assert cli.main(["models", "import", str(path), "--name", "acme", "--options", OPTIONS,
                     "--url", pg_url]) == 0
    assert '"status": "active"' in capsys.readouterr().out
    result = predict(engine)
    assert result["rows_scored"] == len(held) and result["version"] == 1
    rows = latest(engine)
    assert [int(r["row_id"]) for r in rows] == held["customer_id"].tolist()
    expected = pipeline.predict_proba(held[im.TEXT + im.NUMERIC])[:, 1]
    assert np.abs(np.array([r["score"] for r in rows]) - expected).max() < 1e-4
    predicted = pipeline.predict(held[im.TEXT + im.NUMERIC])
    assert [r["label"] for r in rows] == [str(v) for v in predicted]
    [reg] = call(engine, "SELECT kind, status, feature_schema, metrics, artifact_sha256, "
                         "onnx_sha256, onnx_binding FROM models.registry")
    schema = reg["feature_schema"]
    assert (reg["kind"], reg["status"], schema["task"], schema["classes"]) == (
        "imported", "active", "classification", [0, 1])
    assert {i["name"]: i["type"] for i in schema["inputs"]}["plan"] == "tensor(string)"
    assert schema["zipmap_removed"] and reg["artifact_sha256"] != reg["onnx_sha256"]
    assert reg["onnx_binding"]  # bound like a trained version
    assert [r["run_type"] for r in runs(engine)] == ["import_model", "predict"]


def test_without_zipmap_the_probability_tensor_scores_the_same(split):
    engine, train, label, held = split
    pipeline, blob = im.sklearn_pipeline(train, label, zipmap=False)
    import_model(engine, blob, options=json.dumps({"id_column": "customer_id"}))
    predict(engine)
    expected = pipeline.predict_proba(held[im.TEXT + im.NUMERIC])[:, 1]
    assert np.abs(np.array([r["score"] for r in latest(engine)]) - expected).max() < 1e-4
    [reg] = call(engine, "SELECT feature_schema FROM models.registry")
    assert reg["feature_schema"]["task"] == "classification"  # inferred from the label output
    assert not reg["feature_schema"]["zipmap_removed"]


def test_positive_class_chooses_which_probability_is_the_score(split):
    engine, train, label, held = split
    pipeline, blob = im.sklearn_pipeline(train, label)
    import_model(engine, blob, options=json.dumps({"id_column": "customer_id",
                                                    "positive_class": 0}))
    predict(engine)
    expected = pipeline.predict_proba(held[im.TEXT + im.NUMERIC])[:, 0]
    assert np.abs(np.array([r["score"] for r in latest(engine)]) - expected).max() < 1e-4


def test_single_tensor_regression_fills_its_input_from_features_in_order(split):
    engine, train, _, held = split
    model, blob = im.single_tensor_regressor(train)
    options = {"id_column": "customer_id", "features": im.NUMERIC}
    row = import_model(engine, blob, name="charges", options=json.dumps(options))
    assert json.loads(row["metrics"])["task"] == "regression"
    predict(engine, name="charges")
    rows = latest(engine, "charges")
    expected = model.predict(held[im.NUMERIC].to_numpy(np.float32))
    assert np.allclose([r["score"] for r in rows], expected, rtol=1e-5, atol=1e-4)
    assert {r["label"] for r in rows} == {None}


def test_a_custom_domain_op_is_refused_by_name_and_nothing_is_registered(db):
    with pytest.raises(sa.exc.DBAPIError, match=r"op 'MysteryOp'.*custom domain 'com\.acme'"):
        import_model(db, im.custom_domain_model())
    assert count(db, "models.registry") == 0
    [run] = runs(db)
    assert (run["run_type"], run["status"]) == ("import_model", "failed")
    assert "MysteryOp" in run["error"]


def test_external_data_and_the_size_bound_are_refused_by_name(db, tmp_path):
    with pytest.raises(sa.exc.DBAPIError, match="tensor 'weights' in external data"):
        import_model(db, im.external_data_model(tmp_path))
    with db.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE models.specs SET spec = jsonb_set(spec, '{limits,max_model_bytes}', "
            "'100') WHERE kind = 'imported'")
    try:
        with pytest.raises(sa.exc.DBAPIError,
                           match=r"over the bound of 100 bytes.*max_model_bytes"):
            import_model(db, im.custom_domain_model())
    finally:
        with db.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE models.specs SET spec = jsonb_set(spec, "
                "'{limits,max_model_bytes}', '268435456') WHERE kind = 'imported'")
    with pytest.raises(sa.exc.DBAPIError, match="not an ONNX model"):
        import_model(db, b"not a model")
    with pytest.raises(sa.exc.DBAPIError, match="unknown option 'epochs'"):
        import_model(db, im.custom_domain_model(), options='{"epochs": 3}')
    assert count(db, "models.registry") == 0


def test_a_missing_column_or_a_wrong_type_is_named_and_writes_nothing(split):
    engine, train, label, _ = split
    _, blob = im.sklearn_pipeline(train, label)
    import_model(engine, blob)
    with pytest.raises(sa.exc.DBAPIError, match="no column 'region'"):
        predict(engine, query=f"SELECT customer_id, plan, tenure, monthly_charges, "
                              f"support_calls FROM {TABLE}")
    with pytest.raises(sa.exc.DBAPIError, match="column 'plan' is numeric"):
        predict(engine, query=f"SELECT customer_id, length(plan) AS plan, region, tenure, "
                              f"monthly_charges, support_calls FROM {TABLE}")
    with pytest.raises(sa.exc.DBAPIError, match="column 'tenure' is text"):
        predict(engine, query=f"SELECT customer_id, plan, region, tenure::text AS tenure, "
                              f"monthly_charges, support_calls FROM {TABLE}")
    assert count(engine, "predictions.model_scores") == 0
    assert [r["status"] for r in runs(engine)] == ["succeeded", "failed", "failed", "failed"]


def test_a_predict_that_fails_midway_leaves_no_partial_batch(split):
    engine, train, label, _ = split
    _, blob = im.sklearn_pipeline(train, label)
    import_model(engine, blob)
    with pytest.raises(sa.exc.DBAPIError, match="repeats a value"):
        predict(engine, query=f"{QUERY} UNION ALL SELECT * FROM {TABLE} WHERE customer_id = 700")
    assert count(engine, "predictions.model_scores") == 0
    with pytest.raises(sa.exc.DBAPIError, match="is a imported model, not a churn model"):
        call(engine, "SELECT * FROM ml.score_churn(model_name => 'acme')")


def test_drift_is_measured_against_the_reference_query_else_the_first_run(split):
    engine, train, label, held = split
    _, blob = im.sklearn_pipeline(train, label)
    options = {"id_column": "customer_id",
               "reference_query": f"SELECT * FROM {TABLE} WHERE customer_id <= 800"}
    row = import_model(engine, blob, options=json.dumps(options))
    [reg] = call(engine, "SELECT trained_rows, feature_schema FROM models.registry")
    assert reg["trained_rows"] == 200 and set(reg["feature_schema"]["profile"]["features"]) == \
        set(im.TEXT + im.NUMERIC)
    # Longer-tenure customers only: tenure drifts past the threshold, region does not.
    # At least the spec's limits.drift_min_rows (100) of them, below which drift is
    # recorded as too few rows rather than measured.
    run = predict(engine, query=f"{QUERY} WHERE tenure > 30")
    drift = {r["feature"]: r for r in call(
        engine, "SELECT feature, psi, flagged FROM ops.run_drift WHERE run_id = :r",
        r=run["run_id"])}
    assert drift["tenure"]["flagged"] and drift["tenure"]["psi"] > 0.2
    assert set(drift) == set(im.TEXT + im.NUMERIC)
    # A version without a reference: its first run becomes its profile.
    second = import_model(engine, blob, options=json.dumps({"id_column": "customer_id"}))
    assert second["version"] == row["version"] + 1
    first = predict(engine)
    [reg] = call(engine, "SELECT feature_schema FROM models.registry WHERE version = 2")
    assert reg["feature_schema"]["profile"]["rows"] == len(held)
    psi = [r["psi"] for r in call(engine, "SELECT psi FROM ops.run_drift WHERE run_id = :r",
                                  r=first["run_id"])]
    assert psi and max(psi) < 0.01  # the same rows as the profile


def test_an_import_with_activate_replaces_the_active_version_and_says_why(split):
    """Imported versions have no baseline and no same-rows comparison (issue 26's rule):
    activate = true deploys them, a pin included; activate = false keeps a candidate."""
    engine, train, label, _ = split
    _, blob = im.sklearn_pipeline(train, label)
    first = import_model(engine, blob)
    assert first["status"] == "active"
    call(engine, "SELECT * FROM ml.activate_model(model_name => 'acme', version => 1)")
    held_back = import_model(engine, blob, activate=False)
    assert held_back["status"] == "candidate"
    second = import_model(engine, blob)
    assert (second["version"], second["status"]) == (3, "active")
    rows = {r["version"]: r for r in call(
        engine, "SELECT version, status, status_reason, pinned FROM models.registry "
        "WHERE model_name = 'acme'")}
    assert rows[1]["status"] == "retired" and not rows[1]["pinned"]
    assert "replaced by imported version 3" in rows[1]["status_reason"]
    assert rows[2]["status"] == "candidate"
    reason = rows[3]["status_reason"]
    assert "replacing version 1" in reason and "pinned by ml.activate_model" in reason


@pytest.fixture
def login(pg_url, db):
    role = f"sqlml_test_{uuid.uuid4().hex[:8]}"
    with db.begin() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN IN ROLE sqlml_operator")
    engine = sa.create_engine(make_url(pg_url).set(username=role), poolclass=NullPool)
    yield role, engine
    engine.dispose()
    with db.begin() as connection:
        connection.exec_driver_sql(f"DROP OWNED BY {role}")
        connection.exec_driver_sql(f"DROP ROLE {role}")


def test_operators_import_and_predict_analysts_read_only_the_view(split, login):
    engine, train, label, held = split
    role, operator = login
    with engine.begin() as connection:
        connection.exec_driver_sql(f"GRANT SELECT ON {TABLE} TO sqlml_operator")
    _, blob = im.sklearn_pipeline(train, label)
    assert import_model(operator, blob)["status"] == "active"
    assert predict(operator)["rows_scored"] == len(held)
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        call(operator, "INSERT INTO predictions.model_scores (run_id, model_id, row_id, score) "
                       "VALUES (1, 1, 'x', 0.5)")
    with pytest.raises(sa.exc.ProgrammingError, match="not an import in progress"):
        call(operator, "SELECT ops.run_import(1, :m)", m=blob)
    with engine.connect() as connection:
        connection.exec_driver_sql("SET ROLE sqlml_analyst")
        assert connection.exec_driver_sql(
            "SELECT count(*) FROM predictions.scores_latest").scalar() == len(held)
        for sql in ("SELECT count(*) FROM predictions.model_scores",
                    "SELECT * FROM ml.predict('acme', 'SELECT 1')"):
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                with connection.begin_nested():
                    connection.exec_driver_sql(sql)
        connection.rollback()
    assert {r["created_by"] for r in call(engine, "SELECT created_by FROM ops.runs")} == {role}


def test_a_blob_changed_after_import_is_refused(split):
    engine, train, label, _ = split
    _, blob = im.sklearn_pipeline(train, label)
    import_model(engine, blob)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE models.registry SET onnx_artifact = onnx_artifact || '\\x00'::bytea")
    with pytest.raises(sa.exc.DBAPIError, match="binding|sha256"):
        predict(engine)
    assert count(engine, "predictions.model_scores") == 0


def test_export_then_import_keeps_scores_hashes_and_lineage(split, tmp_path, pg_url):
    engine, train, label, held = split
    _, blob = im.sklearn_pipeline(train, label)
    import_model(engine, blob)
    predict(engine)
    before = latest(engine)
    out = tmp_path / "acme.sqlml.json"
    assert cli.main(["models", "export", "--name", "acme", "--out", str(out),
                     "--url", pg_url]) == 0
    assert cli.main(["models", "import", str(out), "--name", "acme_copy", "--activate",
                     "--url", pg_url]) == 0
    [copy] = call(engine, "SELECT version, status, lineage, onnx_sha256, onnx_binding FROM "
                          "models.registry WHERE model_name = 'acme_copy'")
    assert (copy["version"], copy["status"]) == (1, "active")
    assert copy["lineage"]["model_name"] == "acme" and copy["lineage"]["version"] == 1
    assert copy["lineage"]["onnx_sha256"] == copy["onnx_sha256"].strip()
    predict(engine, name="acme_copy")
    assert [(r["row_id"], r["score"], r["label"]) for r in latest(engine, "acme_copy")] == \
        [(r["row_id"], r["score"], r["label"]) for r in before]
    # A file changed after export is refused before anything is written.
    document = json.loads(out.read_text())
    document["registry"]["onnx_sha256"] = "0" * 64
    out.write_text(json.dumps(document))
    assert cli.main(["models", "import", str(out), "--name", "acme_copy", "--url", pg_url]) == 2
    assert count(engine, "models.registry", "model_name = 'acme_copy'") == 1

