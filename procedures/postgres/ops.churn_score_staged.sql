-- ops.churn_score_staged(run_id, onnx_artifact, onnx_sha256): the embedded-Python part
-- of ops.run_score_churn. Scores the rows ops.stage_input kept for the run (read with
-- the caller's rights) and returns one row of two arrays: customer_id, churn_probability.
CREATE OR REPLACE FUNCTION ops.churn_score_staged(
    run_id bigint, onnx_artifact bytea, onnx_sha256 text
)
RETURNS TABLE (customer_id text[], churn_probability double precision[])
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.score_churn_staged(plpy, run_id, onnx_artifact, onnx_sha256)
$$;
REVOKE ALL ON FUNCTION ops.churn_score_staged(bigint, bytea, text) FROM public;
