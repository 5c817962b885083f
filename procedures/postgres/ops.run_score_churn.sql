-- ops.run_score_churn(run_id, model_name, explain): score the rows the caller staged
-- for the run with the model's active version, and write them to
-- predictions.churn_scores; with explain = k > 0, each customer's k strongest reasons
-- to predictions.churn_reasons in the same statement, so a failed run has neither.
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
    -- One call of the scoring half; its arrays feed both tables in one statement.
    WITH scored AS (
        SELECT * FROM ops.churn_score_staged(run_score_churn.run_id, v_model.onnx_artifact,
            v_model.onnx_sha256, run_score_churn.explain)
    ),
    reasons AS (
        INSERT INTO predictions.churn_reasons
            (run_id, customer_id, rank, feature, feature_value, contribution)
        SELECT run_score_churn.run_id, u.customer_id, u.rank, u.feature, u.feature_value,
            u.contribution
        FROM scored AS s
        CROSS JOIN LATERAL unnest(s.reason_customer_id, s.reason_rank, s.reason_feature,
            s.reason_feature_value, s.reason_contribution)
            AS u (customer_id, rank, feature, feature_value, contribution)
    )
    INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)
    SELECT run_score_churn.run_id, v_model.model_id, u.customer_id, u.churn_probability
    FROM scored AS s
    CROSS JOIN LATERAL unnest(s.customer_id, s.churn_probability)
        AS u (customer_id, churn_probability);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM ops.finish_run(run_score_churn.run_id, v_model.model_id, v_rows, v_rows);
    RETURN jsonb_build_object('run_id', run_score_churn.run_id, 'model_id', v_model.model_id,
        'version', v_model.version, 'rows_scored', v_rows);
END;
$$;
REVOKE ALL ON FUNCTION ops.run_score_churn(bigint, text, integer) FROM public;
