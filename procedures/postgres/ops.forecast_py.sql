-- ops.forecast_py(input_query, onnx_artifact, onnx_sha256, horizon): the embedded-Python
-- half of ml.forecast. Reads the input query (series_id, period, value) with the
-- caller's rights and returns horizon rows per series: series_id, period (a timestamp,
-- midnight for daily and longer periods), step, forecast, lower, upper. horizon NULL:
-- the model's.
CREATE OR REPLACE FUNCTION ops.forecast_py(
    input_query text, onnx_artifact bytea, onnx_sha256 text, horizon integer
)
RETURNS TABLE (
    series_id text,
    period timestamp(0),
    step integer,
    forecast double precision,
    lower double precision,
    upper double precision
)
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.forecast(plpy, input_query, onnx_artifact, onnx_sha256, horizon)
$$;
