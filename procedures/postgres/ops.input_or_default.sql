-- ops.input_or_default(kind, input_query): the query an ml routine reads, which is the
-- caller's input_query or, when that is NULL, the kind's spec default
-- (models.specs: input.default_query). Called by ml.train_churn_model,
-- ml.train_forecaster, ml.score_churn and ml.forecast before they hand the query to
-- ops.call. Caller's rights: it only reads the spec, which operators may read.
CREATE OR REPLACE FUNCTION ops.input_or_default(kind text, input_query text)
RETURNS text
LANGUAGE sql
STABLE
AS $$
SELECT coalesce(input_query, (
    SELECT s.spec #>> '{input,default_query}' FROM models.specs AS s WHERE s.kind = $1
))
$$;
REVOKE ALL ON FUNCTION ops.input_or_default(text, text) FROM public;
GRANT EXECUTE ON FUNCTION ops.input_or_default(text, text) TO sqlml_operator;
