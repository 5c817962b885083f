-- ml.score_churn(model_name, input_query): score customers with the model's active
-- version and write the batch to predictions.churn_scores in one transaction.
-- Called by reports, `sqlml`, and the nightly scoring job; analysts then read
-- predictions.churn_latest.
--   input_query  NULL: the spec's default (features.churn_features); runs with the
--                caller's rights; needs customer_id and the model's feature columns
-- Returns one row: run_id, model_id, version, rows_scored. Every call is a run in
-- ops.runs; on any error no score of the batch is written. The work is ops.call's.
CREATE OR REPLACE FUNCTION ml.score_churn(
    model_name text,
    input_query text DEFAULT NULL
)
RETURNS TABLE (run_id bigint, model_id bigint, version integer, rows_scored bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v_result jsonb;
BEGIN
    v_result := ops.call(
        'score_churn', score_churn.model_name,
        jsonb_build_object('input_query', score_churn.input_query),
        coalesce(score_churn.input_query, (
            SELECT s.spec #>> '{input,default_query}' FROM models.specs AS s
            WHERE s.kind = 'churn'
        ))
    );
    RETURN QUERY SELECT (v_result ->> 'run_id')::bigint, (v_result ->> 'model_id')::bigint,
        (v_result ->> 'version')::integer, (v_result ->> 'rows_scored')::bigint;
END;
$$;
REVOKE ALL ON FUNCTION ml.score_churn(text, text) FROM public;
GRANT EXECUTE ON FUNCTION ml.score_churn(text, text) TO sqlml_operator;
