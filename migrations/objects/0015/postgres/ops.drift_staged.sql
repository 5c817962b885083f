-- ops.drift_staged(run_id, profile): the drift check of a scoring or forecasting run.
-- Compares the rows the caller staged for the run (ops.stage_input, read with the
-- caller's rights) with the version's training profile (models.registry
-- feature_schema -> 'profile'); leaves them staged for the scoring that follows.
-- Called by ops.run_score_churn and ops.run_forecast with the owner's rights; they
-- store the rows in ops.run_drift in the transaction of the batch.
-- Returns one row per profiled feature: feature, psi, flagged (psi > 0.2), detail.
CREATE OR REPLACE FUNCTION ops.drift_staged(run_id bigint, profile jsonb)
RETURNS TABLE (feature text, psi double precision, flagged boolean, detail jsonb)
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.drift_staged(plpy, run_id, profile)
$$;
REVOKE ALL ON FUNCTION ops.drift_staged(bigint, jsonb) FROM public;
