-- ops.churn_score_staged(run_id, model_id, onnx_artifact, onnx_sha256, explain): the
-- embedded-Python part of ops.run_score_churn. Scores the rows ops.stage_input kept
-- for the run (read with the caller's rights) and writes them to
-- predictions.churn_scores itself, in the caller's transaction, with one prepared
-- INSERT (sqlml.adapters.postgres.write_scores): 200,000 scores cross back as two
-- text payloads instead of two arrays of 200,000 Python objects. With explain = k > 0
-- it also writes each customer's k strongest reasons to predictions.churn_reasons
-- (write_reasons), in the same transaction; with 0 it does no explaining work at all.
-- Called by ops.run_score_churn, with the owner's rights. Returns the scores written.
CREATE OR REPLACE FUNCTION ops.churn_score_staged(
    run_id bigint, model_id bigint, onnx_artifact bytea, onnx_sha256 text, explain integer
)
RETURNS bigint
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.score_churn_staged(plpy, run_id, model_id, onnx_artifact, onnx_sha256,
                                   explain)
$$;
REVOKE ALL ON FUNCTION ops.churn_score_staged(bigint, bigint, bytea, text, integer) FROM public;
