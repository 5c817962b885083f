"""The SQL Server adapter's scripts for imported models: what the ``@script`` of
``ops.run_import`` and ``ops.run_predict_model`` calls (procedures/mssql).

As every script of ``sqlml.adapters.mssql``: errors come back in ``script_error``
(the procedure THROWs it), never as an exception, so the caller sees our sentence.
"""

from __future__ import annotations

import json

import pandas as pd

from sqlml import entrypoints
from sqlml.adapters.mssql import _drift_json, _empty, _progress, _returns_error, output


@_returns_error(lambda: (None, None, None))
def import_model(model: bytes, spec: str, options: str | None,
                 InputDataSet: pd.DataFrame | None = None) -> tuple:
    """ops.run_import's @script: the OUTPUT parameters @artifact (the blob as given),
    @onnx_artifact (the graph scoring runs), @registration, @script_error.
    ``InputDataSet``: the rows of options.reference_query, read with the caller's
    rights (None when the options have none)."""
    imported = entrypoints.import_model(model, options, json.loads(spec), InputDataSet)
    schema = imported.registration["feature_schema"]
    _progress(f"sqlml: imported a {schema['task']} model with {len(schema['inputs'])} input(s)")
    return imported.artifact, imported.onnx_artifact, imported.registration_json()


@_returns_error(lambda: (*_empty(row_id="object", score="float64", label="object")(),
                         None, None))
def predict_with_drift(InputDataSet: pd.DataFrame, onnx_artifact: bytes, onnx_sha256: str,
                       feature_schema: str) -> tuple:
    """ml.predict's @script: ``OutputDataSet, drift, profile, script_error =``: the
    scores (row_id NVARCHAR(256), score FLOAT, label NVARCHAR(256)), the @drift OUTPUT
    parameter (JSON rows for ops.run_drift), @profile (this run's rows as the
    version's drift profile, for a version that has none yet; else None) and
    @script_error. Drift never produces the error."""
    schema = json.loads(feature_schema)
    scores = output(entrypoints.predict(InputDataSet, onnx_artifact, onnx_sha256, schema))
    profile = schema.get("profile")
    new_profile = None
    if profile is None:
        try:
            columns, n = entrypoints.frame_columns(InputDataSet)
            profile = entrypoints.input_profile(columns, n, schema)
            new_profile = json.dumps(profile)
        except Exception as exc:  # the scores stand; drift is information
            _progress(f"sqlml: no drift profile from this run's rows: {exc}")
    return scores, _drift_json(InputDataSet, json.dumps(profile) if profile else None), \
        new_profile
