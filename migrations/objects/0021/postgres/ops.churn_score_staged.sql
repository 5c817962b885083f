-- ops.churn_score_staged(run_id, onnx_artifact, onnx_sha256, explain): the
-- embedded-Python part of ops.run_score_churn. Scores the rows ops.stage_input kept for
-- the run (read with the caller's rights) and returns one row of seven arrays:
-- customer_id, churn_probability (one element per customer), and the reasons'
-- reason_customer_id, reason_rank, reason_feature, reason_feature_value,
-- reason_contribution (explain elements per customer; empty for explain 0).
CREATE OR REPLACE FUNCTION ops.churn_score_staged(
    run_id bigint, onnx_artifact bytea, onnx_sha256 text, explain integer
)
RETURNS TABLE (
    customer_id text[],
    churn_probability double precision[],
    reason_customer_id text[],
    reason_rank integer[],
    reason_feature text[],
    reason_feature_value text[],
    reason_contribution double precision[]
)
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.score_churn_staged(plpy, run_id, onnx_artifact, onnx_sha256, explain)
$$;
REVOKE ALL ON FUNCTION ops.churn_score_staged(bigint, bytea, text, integer) FROM public;
