-- ops.train_py(kind, input_query, spec, options): the embedded-Python half of
-- ops.train_model. Reads the input query with the caller's rights, trains a model of
-- the given kind ('churn' or 'forecaster'), and returns one row: the Keras bundle,
-- the ONNX bundle, and the registration document (hashes, spec, metrics, feature
-- schema, rows, seconds, device). Progress (rows, epochs) arrives as NOTICE messages.
CREATE OR REPLACE FUNCTION ops.train_py(kind text, input_query text, spec jsonb, options text)
RETURNS TABLE (artifact bytea, onnx_artifact bytea, registration jsonb)
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.train_model(plpy, kind, input_query, spec, options)
$$;
