"""Contracts of the imported-model procedures' embedded Python (ops.run_import for
ml.import_model, ops.run_predict_model for ml.predict), fed from the PostgreSQL engine
with SQL Server's calling convention, under both runtime profiles."""

from __future__ import annotations

import json

import numpy as np
import pytest

import imported_models as im
from sqlml.demo.bulk import insert_frame

from .harness import kind_spec, run_contract

pytestmark = pytest.mark.tsql_contract

TABLE = "features.imported_contract"
INPUT = f"SELECT * FROM {TABLE}"
OPTIONS = json.dumps({"task": "classification", "id_column": "customer_id"})
# ops.run_import's two external script calls: without and with a reference query.
PLAIN, REFERENCED = 0, 1


@pytest.fixture(scope="module")
def data(pg_engine):
    frame, label = im.customers(500, seed=31)
    with pg_engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
        connection.exec_driver_sql(
            f"CREATE TABLE {TABLE} (customer_id bigint PRIMARY KEY, plan text, region text, "
            "tenure float8, monthly_charges float8, support_calls integer)")
    held = frame.iloc[300:].reset_index(drop=True)
    insert_frame(pg_engine, TABLE, held)
    pipeline, blob = im.sklearn_pipeline(frame.iloc[:300], label[:300])
    yield from _dropped_after(pg_engine, pipeline, blob, held)


def _dropped_after(engine, pipeline, blob, held):
    yield engine, pipeline, blob, held
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")


def import_contract(engine, blob, options=OPTIONS, profile="ml_services", call=PLAIN,
                    input_sql=None):
    return run_contract("ops.run_import", profile=profile, engine=engine, call=call,
                        input_sql=input_sql,
                        params={"model": blob, "spec": kind_spec(engine, "imported"),
                                "options": options})


def test_import_returns_both_blobs_and_a_registration(data, profile):
    engine, _, blob, _ = data
    out = import_contract(engine, blob, profile=profile).output_params
    assert out["script_error"] is None
    registration = json.loads(out["registration"])
    assert out["artifact"] == blob and out["onnx_artifact"] != blob  # the ZipMap cut off
    schema = registration["feature_schema"]
    assert (schema["task"], schema["id_column"], schema["classes"]) == (
        "classification", "customer_id", [0, 1])
    assert "profile" not in schema and registration["trained_rows"] == 0


def test_import_with_a_reference_query_profiles_its_rows(data, profile):
    engine, _, blob, held = data
    options = json.dumps({"id_column": "customer_id", "reference_query": INPUT})
    out = import_contract(engine, blob, options=options, profile=profile, call=REFERENCED,
                          input_sql=INPUT).output_params
    registration = json.loads(out["registration"])
    assert registration["trained_rows"] == len(held)
    assert set(registration["feature_schema"]["profile"]["features"]) == set(im.TEXT + im.NUMERIC)


def test_a_custom_domain_is_refused_in_script_error_not_as_an_exception(data):
    engine = data[0]
    out = import_contract(engine, im.custom_domain_model()).output_params
    assert "op 'MysteryOp'" in out["script_error"] and "'com.acme'" in out["script_error"]
    assert out["registration"] is None and out["onnx_artifact"] is None


def _imported(engine, blob):
    out = import_contract(engine, blob).output_params
    return out["onnx_artifact"], json.loads(out["registration"])


def test_predict_matches_predict_proba_and_returns_drift_and_a_first_profile(data, profile):
    engine, pipeline, blob, held = data
    onnx_artifact, registration = _imported(engine, blob)
    outcome = run_contract(
        "ops.run_predict_model", profile=profile, engine=engine, input_sql=INPUT,
        params={"onnx_artifact": onnx_artifact, "onnx_sha256": registration["onnx_sha256"],
                "feature_schema": json.dumps(registration["feature_schema"])})
    out = outcome.output.set_index("row_id").loc[[str(i) for i in held["customer_id"]]]
    expected = pipeline.predict_proba(held[im.TEXT + im.NUMERIC])[:, 1]
    assert np.abs(out["score"].to_numpy() - expected).max() < 1e-4
    assert out["label"].tolist() == [str(v) for v in pipeline.predict(held[im.TEXT + im.NUMERIC])]
    params = outcome.output_params
    assert params["script_error"] is None
    assert set(json.loads(params["profile"])["features"]) == set(im.TEXT + im.NUMERIC)
    drift = json.loads(params["drift"])
    assert {d["feature"] for d in drift} == set(im.TEXT + im.NUMERIC)


def test_predict_names_a_missing_column_in_script_error(data, profile):
    engine, _, blob, _ = data
    onnx_artifact, registration = _imported(engine, blob)
    outcome = run_contract(
        "ops.run_predict_model", profile=profile, engine=engine,
        input_sql=f"SELECT customer_id, plan, tenure, monthly_charges, support_calls FROM {TABLE}",
        params={"onnx_artifact": onnx_artifact, "onnx_sha256": registration["onnx_sha256"],
                "feature_schema": json.dumps(registration["feature_schema"])})
    assert "no column 'region'" in outcome.output_params["script_error"]
    assert outcome.output.empty
