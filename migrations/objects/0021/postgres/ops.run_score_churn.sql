-- ops.run_score_churn(run_id, model_name, explain): score the rows the caller staged
-- for the run with the model's active version, and write them to
-- predictions.churn_scores (through ops.churn_score_staged), their drift to
-- ops.run_drift and, with explain = k > 0, each customer's k strongest reasons to
-- predictions.churn_reasons, all in this transaction, so a failed run has none of them.
-- Called by ops.run_call for ml.score_churn, with the owner's rights.
-- Returns {run_id, model_id, version, rows_scored}.
CREATE OR REPLACE FUNCTION ops.run_score_churn(run_id bigint, model_name text, explain integer)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_model record;
    v_rows bigint;
    v_max_explain integer;
BEGIN
    -- Explaining costs about (columns + 1) * 32 model evaluations per customer, so the
    -- spec bounds it, checked before any work (a spec without the bound: no reasons).
    SELECT coalesce((s.spec #>> '{limits,max_explain}')::integer, 0) INTO v_max_explain
    FROM models.specs AS s WHERE s.kind = 'churn';
    IF run_score_churn.explain IS NULL OR run_score_churn.explain < 0
        OR run_score_churn.explain > v_max_explain THEN
        RAISE EXCEPTION 'sqlml: explain must be 0 to % (reasons kept per customer); got %',
            v_max_explain, coalesce(run_score_churn.explain::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_model FROM ops.model_version('churn', run_score_churn.model_name);
    PERFORM ops.record_drift(run_score_churn.run_id, v_model.model_id);
    -- The scores (and reasons) are written by the embedded-Python part itself (one
    -- prepared INSERT from two text payloads), in this transaction: handing 200,000 of
    -- them back as arrays to unnest here cost more than scoring them.
    v_rows := ops.churn_score_staged(run_score_churn.run_id, v_model.model_id,
        v_model.onnx_artifact, v_model.onnx_sha256, run_score_churn.explain);
    PERFORM ops.finish_run(run_score_churn.run_id, v_model.model_id, v_rows, v_rows);
    RETURN jsonb_build_object('run_id', run_score_churn.run_id, 'model_id', v_model.model_id,
        'version', v_model.version, 'rows_scored', v_rows);
END;
$$;
REVOKE ALL ON FUNCTION ops.run_score_churn(bigint, text, integer) FROM public;
