-- ops.forecast_staged(run_id, onnx_artifact, onnx_sha256, horizon): the embedded-Python
-- part of ops.run_forecast. Forecasts the series ops.stage_input kept for the run
-- (series_id, period, value; read with the caller's rights) and returns horizon rows
-- per series: series_id, period (the first of the forecast month), step, forecast,
-- lower, upper. horizon NULL: the model's.
CREATE OR REPLACE FUNCTION ops.forecast_staged(
    run_id bigint, onnx_artifact bytea, onnx_sha256 text, horizon integer
)
RETURNS TABLE (
    series_id text,
    period date,
    step integer,
    forecast double precision,
    lower double precision,
    upper double precision
)
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.forecast_staged(plpy, run_id, onnx_artifact, onnx_sha256, horizon)
$$;
REVOKE ALL ON FUNCTION ops.forecast_staged(bigint, bytea, text, integer) FROM public;
