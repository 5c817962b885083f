-- ml.score_churn(model_name, input_query, explain, version): score customers with one
-- version of the model (NULL: the active one) and write the batch to
-- predictions.churn_scores in one transaction.
-- Called by reports, `sqlml`, the demo and the nightly scoring job; analysts then read
-- predictions.churn_latest (and predictions.churn_reasons_latest).
--   input_query  NULL: the spec's default (features.churn_features); runs with the
--                caller's rights; needs customer_id and the model's feature columns
--   explain      reasons kept per customer (default 0: none): with k > 0 the same
--                transaction also writes each customer's k strongest reasons to
--                predictions.churn_reasons; 0 to the spec's limits.max_explain (20);
--                NULL: 0
--   version      NULL (the default): the active version; a number: that version, so a
--                candidate can shadow the active one (its rows carry its version;
--                predictions.churn_latest keeps showing the active version's)
-- Returns one row: run_id, model_id, version, rows_scored. Every call is a run in
-- ops.runs; on any error no score and no reason of the batch is written. The work is
-- ops.call's.
CREATE OR REPLACE FUNCTION ml.score_churn(
    model_name text,
    input_query text DEFAULT NULL,
    explain integer DEFAULT 0,
    version integer DEFAULT NULL
)
RETURNS TABLE (run_id bigint, model_id bigint, version integer, rows_scored bigint)
LANGUAGE sql
AS $$
SELECT * FROM jsonb_to_record(ops.call(
    'score_churn', score_churn.model_name,
    jsonb_build_object('input_query', score_churn.input_query,
        'explain', score_churn.explain, 'version', score_churn.version),
    ops.input_or_default('churn', score_churn.input_query)
)) AS r (run_id bigint, model_id bigint, version integer, rows_scored bigint);
$$;
REVOKE ALL ON FUNCTION ml.score_churn(text, text, integer, integer) FROM public;
GRANT EXECUTE ON FUNCTION ml.score_churn(text, text, integer, integer) TO sqlml_operator;
