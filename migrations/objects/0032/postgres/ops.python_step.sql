-- ops.python_step(step, run_id, params, onnx_artifact): the embedded-Python part of
-- the owner's half of a call, and its one way into sqlml.adapters.postgres. Each step
-- works on the rows ops.stage_input kept for the run (read with the caller's rights);
-- params holds the step's parameters, onnx_artifact the version's ONNX bundle (kept
-- out of JSON: it is large). The steps, their params, and the rows they return (the
-- caller names the columns):
--   train        kind, spec, options: one row of the Keras bundle, the ONNX bundle and
--                the registration document (hashes, spec, metrics, feature schema,
--                rows, seconds, device); progress arrives as NOTICE messages, and a
--                cancel or statement timeout stops training within about a second.
--                champion (model_id, version, onnx_sha256; its bundle in onnx_artifact):
--                the active version, measured on the new version's held-out rows
--                (metrics.same_rows, which ops.register_model's rule compares).
--   evaluate     kind, onnx_sha256, recorded, spec_input (churn), forecasts, season
--                (forecaster): one row: rows compared, realised metrics (JSON text).
--   score_churn  model_id, onnx_sha256, explain, profile (the version's training
--                profile): writes the scores to predictions.churn_scores itself, in
--                the caller's transaction, with one prepared INSERT (200,000 scores
--                cross back as two text payloads, not two arrays of Python objects);
--                with explain = k > 0 also each customer's k strongest reasons to
--                predictions.churn_reasons, with 0 no explaining work at all; with the
--                last batch the run's input drift to ops.run_drift (a problem measuring
--                it is a WARNING and a '*' row, never the run's failure). Works on one
--                batch of the input (adapters/postgres_batches.py); one row: the scores
--                the run has written so far, and whether another batch follows.
--   preview_churn  onnx_sha256, explain: scores (and k reasons) returned, nothing
--                written (ml.score_churn_preview): one row per input row:
--                customer_id, churn_probability, reasons (jsonb array, NULL for k = 0).
--   forecast     onnx_sha256, horizon (NULL: the model's), model_id, profile: writes
--                one batch of whole series' forecasts (adapters/postgres_series.py)
--                to predictions.forecasts (periods at midnight for daily and longer
--                frequencies) and, with the last batch, the run's drift to
--                ops.run_drift itself, in the caller's transaction: one row: the
--                forecast rows the run has written so far, and whether another batch
--                follows.
--   import       spec, options; onnx_artifact holds the imported blob: one row of the
--                blob as given, the graph kept for scoring and the registration
--                (sqlml.adapters.postgres_imported); the reference rows, if staged.
--   predict      model_id, onnx_sha256, feature_schema: writes the scores to
--                predictions.model_scores and their drift to ops.run_drift itself, in
--                the caller's transaction. One row: the scores written, and the drift
--                profile of these rows when the version had none (else NULL).
-- Each run crosses into Python once after its input is staged (once per batch when
-- scoring); the run's staged state is released by the step that ends it
-- (adapters/pg_staging.py).
-- Called by ops.run_train, ops.run_score_churn, ops.run_forecast, ops.run_evaluate,
-- ops.run_import and ops.run_predict_model, with the owner's rights; nobody else may
-- execute it.
CREATE OR REPLACE FUNCTION ops.python_step(
    step text, run_id bigint, params jsonb, onnx_artifact bytea DEFAULT NULL
)
RETURNS SETOF record
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
import json
from sqlml.adapters import postgres
a = json.loads(params)
if step == "train":
    champion = a.get("champion")
    if champion:
        champion = {**champion, "onnx_artifact": onnx_artifact}
    return postgres.train_staged(plpy, run_id, a["kind"], json.dumps(a["spec"]), a["options"],
                                 champion)
if step == "evaluate":
    return postgres.evaluate_staged(plpy, run_id, a["kind"], onnx_artifact, a)
if step == "score_churn":
    return [postgres.score_churn_staged(plpy, run_id, a["model_id"], onnx_artifact,
                                        a["onnx_sha256"], a["explain"],
                                        profile=a["profile"])]
if step == "preview_churn":
    return postgres.preview_churn_staged(plpy, run_id, onnx_artifact, a["onnx_sha256"],
                                         a["explain"])
if step == "forecast":
    return [postgres.forecast_staged(plpy, run_id, onnx_artifact, a["onnx_sha256"],
                                     a["horizon"], model_id=a["model_id"],
                                     profile=a["profile"])]
if step in ("import", "predict"):
    from sqlml.adapters import postgres_imported
    return postgres_imported.step(plpy, step, run_id, a, onnx_artifact)
plpy.error("sqlml: unknown step %s of the embedded Python" % step, sqlstate="22023")
$$;
REVOKE ALL ON FUNCTION ops.python_step(text, bigint, jsonb, bytea) FROM public;
