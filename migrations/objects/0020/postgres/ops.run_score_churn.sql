-- ops.run_score_churn(run_id, model_name): score the rows the caller staged for the
-- run with the model's active version, and write them to predictions.churn_scores
-- (through ops.churn_score_staged) and their drift to ops.run_drift.
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
    -- The scores are written by the embedded-Python part itself (one prepared INSERT
    -- from two text payloads), in this transaction: handing 200,000 of them back as
    -- arrays to unnest here cost more than scoring them.
    v_rows := ops.churn_score_staged(run_score_churn.run_id, v_model.model_id,
        v_model.onnx_artifact, v_model.onnx_sha256);
    PERFORM ops.finish_run(run_score_churn.run_id, v_model.model_id, v_rows, v_rows);
    RETURN jsonb_build_object('run_id', run_score_churn.run_id, 'model_id', v_model.model_id,
        'version', v_model.version, 'rows_scored', v_rows);
END;
$$;
REVOKE ALL ON FUNCTION ops.run_score_churn(bigint, text) FROM public;
