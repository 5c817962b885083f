-- ml.score_churn(model_name, input_query): score customers with the model's active
-- version and write the batch to predictions.churn_scores in one transaction.
-- Called by reports, `sqlml`, and the nightly scoring job; analysts then read
-- predictions.churn_latest.
--   input_query  NULL: the spec's default (features.churn_features); runs with the
--                caller's rights; needs customer_id and the model's feature columns
-- Returns one row: run_id, model_id, version, rows_scored. Every call is a run in
-- ops.runs; on any error no score of the batch is written.
CREATE OR REPLACE FUNCTION ml.score_churn(
    model_name text,
    input_query text DEFAULT NULL
)
RETURNS TABLE (run_id bigint, model_id bigint, version integer, rows_scored bigint)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
    v_params jsonb := jsonb_build_object('input_query', score_churn.input_query);
    v_run_id bigint;
    v_model_id bigint;
    v_version integer;
    v_onnx bytea;
    v_sha text;
    v_query text;
    v_rows bigint;
BEGIN
    BEGIN
        v_run_id := ops.begin_run('score_churn', score_churn.model_name, v_params);
        SELECT a.model_id, a.version, a.onnx_artifact, a.onnx_sha256
        INTO v_model_id, v_version, v_onnx, v_sha
        FROM ops.active_model('churn', score_churn.model_name) AS a;
        SELECT coalesce(score_churn.input_query, s.spec #>> '{input,default_query}')
        INTO v_query FROM models.specs AS s WHERE s.kind = 'churn';

        INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)
        SELECT v_run_id, v_model_id, u.customer_id, u.churn_probability
        FROM ops.churn_score_py(v_query, v_onnx, v_sha) AS s
        CROSS JOIN LATERAL unnest(s.customer_id, s.churn_probability)
            AS u (customer_id, churn_probability);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        PERFORM ops.finish_run(v_run_id, v_model_id, v_rows, v_rows);
    EXCEPTION WHEN OTHERS THEN
        -- Re-raised with the same SQLSTATE, minus PL/Python's exception-class
        -- prefix and traceback: the caller sees the sentence that names the problem.
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_message := regexp_replace(v_message, '^plpy\.Error: ', '');
        PERFORM ops.fail_run(
            v_run_id, 'score_churn', score_churn.model_name, v_model_id, v_params, v_message
        );
        PERFORM ops.reraise(v_state, v_message, v_detail, v_hint);
    END;
    RETURN QUERY SELECT v_run_id, v_model_id, v_version, v_rows;
END;
$$;
