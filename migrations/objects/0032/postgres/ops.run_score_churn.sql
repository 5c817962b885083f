-- ops.run_score_churn(run_id, model_name, explain, preview, version): score the
-- customers the caller staged for the run with one version of the model (NULL: the
-- active one), and write the scores to
-- predictions.churn_scores, their drift to ops.run_drift and, with explain = k > 0,
-- each customer's k strongest reasons to predictions.churn_reasons, all in this
-- transaction, so a failed run has none of them. explain: NULL is 0. Called by
-- ops.run_call for ml.score_churn, with the owner's rights (the twin of SQL Server's
-- ops.run_score_churn). Returns {run_id, model_id, version, rows_scored}. With preview
-- (ml.score_churn_preview) it writes no score, reason or drift and returns
-- {run_id, model_id, version, rows: [{customer_id, churn_probability, reasons}]}.
-- The input comes in batches (adapters/postgres_batches.py): for every batch but the
-- last it returns {run_id, next_batch: true}, and ops.call stages the next batch and
-- calls again; drift is counted batch by batch and written with the last one, by the
-- same step that scores the batch (one crossing into Python per batch).
CREATE OR REPLACE FUNCTION ops.run_score_churn(
    run_id bigint, model_name text, explain integer, preview boolean DEFAULT false,
    version integer DEFAULT NULL
)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_explain integer := coalesce(run_score_churn.explain, 0);
    v_max_explain integer;
    v_model record;
    v_profile jsonb;
    v_rows bigint;
    v_scored jsonb;
    v_more boolean;
BEGIN
    -- Explaining costs about (columns + 1) * 32 model evaluations per customer, so
    -- the spec bounds it, checked before any work (a spec without the bound: no
    -- reasons).
    SELECT coalesce((s.spec #>> '{limits,max_explain}')::integer, 0) INTO v_max_explain
    FROM models.specs AS s WHERE s.kind = 'churn';
    IF v_explain < 0 OR v_explain > v_max_explain THEN
        RAISE EXCEPTION 'sqlml: explain must be 0 to % (reasons kept per customer); got %',
            v_max_explain, v_explain
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_model FROM ops.model_version('churn', run_score_churn.model_name,
        run_score_churn.version);
    -- Scoring is called once per batch of the input: holding the version's row keeps
    -- an activation from retiring it until the run ends, so every batch scores with it.
    PERFORM 1 FROM models.registry AS r WHERE r.model_id = v_model.model_id FOR SHARE;
    -- Scored by another version than the active one: a shadow run, which the analysts'
    -- latest views leave out (ops.runs.shadow_of: the version active now, 0 for none).
    UPDATE ops.runs AS u
    SET shadow_of = coalesce((
        SELECT a.model_id FROM models.registry AS a
        WHERE a.model_name = run_score_churn.model_name AND a.status = 'active'
    ), 0)
    WHERE u.run_id = run_score_churn.run_id AND NOT EXISTS (
        SELECT FROM models.registry AS r WHERE r.model_id = v_model.model_id AND r.status = 'active'
    );
    IF coalesce(run_score_churn.preview, false) THEN
        -- What-if: the scores (and reasons) come back to the caller; no table is
        -- written but the run log, and no drift is measured on made-up rows.
        SELECT coalesce(jsonb_agg(jsonb_build_object('customer_id', s.customer_id,
                'churn_probability', s.churn_probability, 'reasons', s.reasons)
                ORDER BY s.churn_probability DESC, s.customer_id), '[]'::jsonb), count(*)
        INTO v_scored, v_rows
        FROM ops.python_step('preview_churn', run_score_churn.run_id,
            jsonb_build_object('onnx_sha256', v_model.onnx_sha256, 'explain', v_explain),
            v_model.onnx_artifact
        ) AS s (customer_id text, churn_probability double precision, reasons jsonb);
        PERFORM ops.finish_run(run_score_churn.run_id, v_model.model_id, v_rows, 0);
        RETURN jsonb_build_object('run_id', run_score_churn.run_id,
            'model_id', v_model.model_id, 'version', v_model.version, 'rows', v_scored);
    END IF;
    SELECT r.feature_schema -> 'profile' INTO v_profile
    FROM models.registry AS r WHERE r.model_id = v_model.model_id;
    -- The scores (and reasons, and with the last batch the drift) are written by the
    -- embedded-Python step itself (one prepared INSERT from two text payloads), in this
    -- transaction: handing 200,000 of them back as arrays to unnest here cost more
    -- than scoring them.
    SELECT s.written, s.more INTO v_rows, v_more
    FROM ops.python_step('score_churn', run_score_churn.run_id, jsonb_build_object(
        'model_id', v_model.model_id, 'onnx_sha256', v_model.onnx_sha256,
        'explain', v_explain, 'profile', v_profile
    ), v_model.onnx_artifact) AS s (written bigint, more boolean);
    IF v_more THEN
        -- ops.call reads the next batch with the caller's rights and calls again.
        RETURN jsonb_build_object('run_id', run_score_churn.run_id, 'next_batch', true);
    END IF;
    PERFORM ops.finish_run(run_score_churn.run_id, v_model.model_id, v_rows, v_rows);
    RETURN jsonb_build_object('run_id', run_score_churn.run_id, 'model_id', v_model.model_id,
        'version', v_model.version, 'rows_scored', v_rows);
END;
$$;
REVOKE ALL ON FUNCTION ops.run_score_churn(bigint, text, integer, boolean, integer) FROM public;
