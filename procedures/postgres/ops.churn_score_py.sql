-- ops.churn_score_py(input_query, onnx_artifact, onnx_sha256): the embedded-Python
-- half of ml.score_churn. Reads the input query with the caller's rights and
-- returns one row of two parallel arrays, customer_id and churn_probability, one
-- element per input row: arrays cross the PL/Python boundary several times faster
-- than a set of rows (ml.score_churn unnests them).
CREATE OR REPLACE FUNCTION ops.churn_score_py(
    input_query text, onnx_artifact bytea, onnx_sha256 text
)
RETURNS TABLE (customer_id text[], churn_probability double precision[])
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.score_churn(plpy, input_query, onnx_artifact, onnx_sha256)
$$;
