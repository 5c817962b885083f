-- ops.train_staged(run_id, kind, spec, options): the embedded-Python part of
-- ops.run_train. Trains a model of the kind on the rows ops.stage_input kept for the
-- run (read with the caller's rights) and returns one row: the Keras bundle, the ONNX
-- bundle, and the registration document (hashes, spec, metrics, feature schema, rows,
-- seconds, device). Progress arrives as NOTICE messages; a cancel or statement
-- timeout stops training within about a second.
CREATE OR REPLACE FUNCTION ops.train_staged(run_id bigint, kind text, spec jsonb, options text)
RETURNS TABLE (artifact bytea, onnx_artifact bytea, registration jsonb)
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.train_staged(plpy, run_id, kind, spec, options)
$$;
REVOKE ALL ON FUNCTION ops.train_staged(bigint, text, jsonb, text) FROM public;
