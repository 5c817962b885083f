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
BEGIN
    RETURN QUERY SELECT r.run_id, r.model_id, r.version, r.rows_scored
    FROM jsonb_to_record(ops.call(
        'score_churn', score_churn.model_name,
        jsonb_build_object('input_query', score_churn.input_query),
        ops.input_or_default('churn', score_churn.input_query)
    )) AS r (run_id bigint, model_id bigint, version integer, rows_scored bigint);
END;
$$;
REVOKE ALL ON FUNCTION ml.score_churn(text, text) FROM public;
GRANT EXECUTE ON FUNCTION ml.score_churn(text, text) TO sqlml_operator;
