-- ml.score_churn_preview(model_name, input_query, explain): what-if scoring. Scores
-- the rows of input_query with the model's active version, exactly as ml.score_churn
-- does, and returns them instead of writing them: nothing goes to
-- predictions.churn_scores, predictions.churn_reasons or ops.run_drift (a made-up
-- customer neither tops the call list nor moves drift). The call is still a run in
-- ops.runs: run type score_churn, params.preview true, rows_out 0.
-- Called by analysts' tools, reports and `sqlml` to ask "what would this customer
-- score?"; meant for a handful of rows (the whole answer is built in memory).
--   input_query  NULL: the spec's default (features.churn_features); runs with the
--                caller's rights; needs customer_id and the model's feature columns
--   explain      reasons returned per customer (default 0: none), 0 to the spec's
--                limits.max_explain (20)
-- Returns one row per input row, most at risk first (then by customer_id): run_id,
-- model_id, version, customer_id, churn_probability, reasons (jsonb array of {rank,
-- feature, feature_value, contribution}, strongest risk first; NULL with explain 0).
CREATE OR REPLACE FUNCTION ml.score_churn_preview(
    model_name text,
    input_query text DEFAULT NULL,
    explain integer DEFAULT 0
)
RETURNS TABLE (
    run_id bigint, model_id bigint, version integer, customer_id text,
    churn_probability double precision, reasons jsonb
)
LANGUAGE sql
AS $$
SELECT (d.r ->> 'run_id')::bigint, (d.r ->> 'model_id')::bigint, (d.r ->> 'version')::integer,
    p.customer_id, p.churn_probability, p.reasons
FROM (SELECT ops.call(
    'score_churn', score_churn_preview.model_name,
    jsonb_build_object('input_query', score_churn_preview.input_query,
        'explain', score_churn_preview.explain, 'preview', true),
    ops.input_or_default('churn', score_churn_preview.input_query)
) AS r) AS d
CROSS JOIN LATERAL jsonb_to_recordset(d.r -> 'rows') AS p (
    customer_id text, churn_probability double precision, reasons jsonb
);
$$;
REVOKE ALL ON FUNCTION ml.score_churn_preview(text, text, integer) FROM public;
GRANT EXECUTE ON FUNCTION ml.score_churn_preview(text, text, integer) TO sqlml_operator;
