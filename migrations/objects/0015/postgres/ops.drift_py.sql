-- ops.drift_py(input_query, profile): the embedded-Python drift check of a scoring
-- or forecasting run. Reads the run's input query with the caller's rights and
-- compares it with the version's training profile (models.registry
-- feature_schema -> 'profile'). Called by ml.score_churn and ml.forecast, which
-- store the rows in ops.run_drift in the transaction of the batch.
-- Returns one row per profiled feature: feature, psi, flagged (psi > 0.2), detail.
CREATE OR REPLACE FUNCTION ops.drift_py(input_query text, profile jsonb)
RETURNS TABLE (feature text, psi double precision, flagged boolean, detail jsonb)
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.drift(plpy, input_query, profile)
$$;
