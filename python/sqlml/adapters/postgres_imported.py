"""The PostgreSQL adapter's steps for imported models: ``ops.python_step`` 'import'
and 'predict' (procedures/postgres/ops.run_import.sql,
ops.run_predict_model.sql).

They work as churn scoring's do (``sqlml.adapters.postgres``): the caller's rows were
read with the caller's rights by ``ops.stage_input`` and are taken here by run id;
scores are written by one prepared INSERT in the caller's transaction, so a failed
run leaves none.
"""

from __future__ import annotations

import json

import numpy as np

from sqlml import entrypoints
from sqlml.adapters import pg_spi, pg_staging, pg_writes
from sqlml.adapters.pg_spi import database_errors
from sqlml.adapters.text_payload import SEPARATOR


def _columns(data) -> tuple[dict[str, np.ndarray], int]:
    """Staged rows as columns: scoring's lean read, or a DataFrame (a model whose
    active version changed between the caller's read and the owner's half)."""
    if isinstance(data, tuple):
        columns, n, _ = data
        return columns, n
    return entrypoints.frame_columns(data)


@database_errors
def import_staged(plpy, run_id: int, model: bytes, spec: str | dict,
                  options: str | None) -> list[tuple]:
    """'import': one row of the blob as given, the scoring graph, the registration."""
    reference = pg_staging.take(run_id)  # None: imported without reference rows
    if isinstance(spec, str):
        spec = json.loads(spec)
    imported = entrypoints.import_model(model, options, spec, reference)
    plpy.notice(f"sqlml: imported a {imported.registration['feature_schema']['task']} model "
                f"with {len(imported.registration['feature_schema']['inputs'])} input(s)")
    return [(imported.artifact, imported.onnx_artifact, imported.registration_json())]


def _profile(plpy, columns: dict[str, np.ndarray], n: int, feature_schema: dict
             ) -> dict | None:
    """The rows' drift profile (an imported version's first run, without reference
    rows), or None when they cannot give one: drift never fails a run."""
    try:
        return entrypoints.input_profile(columns, n, feature_schema)
    except Exception as exc:  # the scoring step names a bad column; drift stays quiet
        plpy.warning(f"sqlml: no drift profile from this run's rows: {exc}")
        return None


_SCORES = (
    "INSERT INTO predictions.model_scores (run_id, model_id, row_id, score, label)"
    " SELECT $1, $2, u.row_id, u.score, u.label"
    " FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]),"
    " pg_catalog.unnest($4::pg_catalog.float8[]), pg_catalog.unnest($5::pg_catalog.text[]))"
    " AS u (row_id, score, label)"
)


# Each payload function ends with its payload; payloads of unequal length would pad
# with NULL, which the NOT NULL columns refuse (row_id, score).
_SCORES_FROM_PAYLOADS = (
    "INSERT INTO predictions.model_scores (run_id, model_id, row_id, score)"
    " SELECT $1, $2, ops.payload_texts($3), ops.payload_float8s($4)"
)
_LABELLED_FROM_PAYLOADS = (
    "INSERT INTO predictions.model_scores (run_id, model_id, row_id, score, label)"
    " SELECT $1, $2, ops.payload_texts($3), ops.payload_float8s($4), ops.payload_texts($5)"
)


@database_errors
def predict_staged(plpy, run_id: int, model_id: int, onnx_artifact: bytes, onnx_sha256: str,
                   feature_schema: dict) -> tuple[int, str | None]:
    """'predict': score the staged rows and write them to predictions.model_scores,
    and their drift to ops.run_drift, in the caller's transaction, in this one
    crossing. A version without a drift profile (imported without reference rows)
    takes these rows': returned as JSON for ops.run_predict_model to keep, else None.
    One row: the scores written, the new profile."""
    # A bad blob fails here, before the staged rows are used; cached per session.
    entrypoints.check_imported_artifact(onnx_artifact, onnx_sha256, feature_schema)
    with pg_staging.ending(run_id):
        data = pg_staging.staged(run_id)
    columns, n = _columns(data)
    coded = data[2] if isinstance(data, tuple) else None
    profile, new_profile = feature_schema.get("profile"), None
    if profile is None:
        profile = new_profile = _profile(plpy, columns, n, feature_schema)
    pg_writes.write_drift(plpy, run_id, model_id, profile,
                          lambda: _drift_rows(data, columns, n, coded, profile))
    ids, scores, labels = entrypoints.predict_columns(columns, n, onnx_artifact, onnx_sha256,
                                                      feature_schema)
    written = write_scores(plpy, run_id, model_id, ids, scores, labels) if n else 0
    return written, None if new_profile is None else json.dumps(new_profile)


def _drift_rows(data, columns, n, coded, profile) -> list[tuple]:
    if isinstance(data, tuple):  # read_columns' columns: NumPy only
        return entrypoints.drift_column_rows(columns, n, profile, coded)
    return pg_spi.rows(entrypoints.drift(data, profile))


def _payload(values: list[str]) -> str | None:
    """Values joined by the separator, or None when one of them holds it (then the
    payload would not split back into the same rows)."""
    text = SEPARATOR.join(values)
    return text if text.count(SEPARATOR) == len(values) - 1 else None


def write_scores(plpy, run_id: int, model_id: int, ids: list[str], scores: np.ndarray,
                 labels: list[str] | None) -> int:
    """INSERT one batch into predictions.model_scores, in the caller's transaction.
    As churn's write (adapters/pg_writes.py): with the native payload functions, ids and
    labels cross as one text payload each and scores as 8 bytes each, turned back into
    rows in the SELECT list (a third of the cost of three arrays of Python objects);
    elsewhere, or when a value holds the separator, as arrays."""
    id_text = _payload(ids)
    label_text = _payload(labels) if labels is not None else ""
    if (id_text and label_text is not None
            and plpy.execute(pg_writes._NATIVE_WRITER)[0]["usable"]):
        values = np.ascontiguousarray(scores, dtype=np.float64).tobytes()
        if labels is None:
            plan = pg_spi._plan(plpy, _SCORES_FROM_PAYLOADS, ["bigint", "bigint", "text",
                                                                "bytea"])
            return plpy.execute(plan, [run_id, model_id, id_text, values]).nrows()
        plan = pg_spi._plan(plpy, _LABELLED_FROM_PAYLOADS, ["bigint", "bigint", "text",
                                                              "bytea", "text"])
        return plpy.execute(plan, [run_id, model_id, id_text, values, label_text]).nrows()
    plan = pg_spi._plan(plpy, _SCORES, ["bigint", "bigint", "text[]", "float8[]", "text[]"])
    return plpy.execute(plan, [run_id, model_id, ids, np.asarray(scores).tolist(),
                               labels if labels is not None else [None] * len(ids)]).nrows()


def step(plpy, name: str, run_id: int, params: dict, onnx_artifact: bytes | None):
    """ops.python_step's entry for the two steps of imported models."""
    if name == "import":
        return import_staged(plpy, run_id, onnx_artifact, params["spec"], params["options"])
    schema = params["feature_schema"]
    if isinstance(schema, str):
        schema = json.loads(schema)
    return [predict_staged(plpy, run_id, params["model_id"], onnx_artifact,
                           params["onnx_sha256"], schema)]
