-- ops.run_score_churn(run_id, model_name): score the rows the caller staged for the
-- run with the model's active version, and write them to predictions.churn_scores.
-- Called by ops.run_call for ml.score_churn, with the owner's rights.
-- Returns {run_id, model_id, version, rows_scored}.
CREATE OR REPLACE FUNCTION ops.run_score_churn(run_id bigint, model_name text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_model record;
    v_rows bigint;
BEGIN
    SELECT * INTO v_model FROM ops.model_version('churn', run_score_churn.model_name);
    PERFORM ops.record_drift(run_score_churn.run_id, v_model.model_id);
    INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)
    SELECT run_score_churn.run_id, v_model.model_id, u.customer_id, u.churn_probability
    FROM ops.churn_score_staged(run_score_churn.run_id, v_model.onnx_artifact,
        v_model.onnx_sha256) AS s
    CROSS JOIN LATERAL unnest(s.customer_id, s.churn_probability)
        AS u (customer_id, churn_probability);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM ops.finish_run(run_score_churn.run_id, v_model.model_id, v_rows, v_rows);
    RETURN jsonb_build_object('run_id', run_score_churn.run_id, 'model_id', v_model.model_id,
        'version', v_model.version, 'rows_scored', v_rows);
END;
$$;
REVOKE ALL ON FUNCTION ops.run_score_churn(bigint, text) FROM public;
