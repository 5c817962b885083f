-- ops.forecaster_train_py(input_query, spec, options): the embedded-Python half of
-- ml.train_forecaster. Reads the input query (series_id, period, value) with the
-- caller's rights, backtests, refits, and returns one row: the Keras bundle, the
-- ONNX bundle, and the registration document (hashes, spec, metrics, feature
-- schema, rows, seconds, device). Progress (series, epochs, backtest) arrives as
-- NOTICE messages.
CREATE OR REPLACE FUNCTION ops.forecaster_train_py(input_query text, spec jsonb, options text)
RETURNS TABLE (artifact bytea, onnx_artifact bytea, registration jsonb)
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.train_forecaster(plpy, input_query, spec, options)
$$;
