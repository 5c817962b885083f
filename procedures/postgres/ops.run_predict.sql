-- ops.run_predict(run_id, kind, model_name, params): score ('churn') or forecast
-- ('forecaster') the rows the caller staged for the run with the model's active
-- version, and write them to predictions.churn_scores or predictions.forecasts, their
-- drift to ops.run_drift and, for churn with params.explain = k > 0, each customer's k
-- strongest reasons to predictions.churn_reasons, all in this transaction, so a
-- failed run has none of them. params: the run's (explain, NULL: 0; horizon, NULL:
-- the version's). Called by ops.run_call for ml.score_churn and ml.forecast, with the
-- owner's rights. Returns {run_id, model_id, version, rows_scored} (churn) or
-- {run_id, model_id, version, rows_written} (forecaster). Churn's input comes in
-- batches: for every batch but the last it returns {run_id, next_batch: true}, and
-- ops.call stages the next batch and calls again; drift is counted batch by batch
-- and written with the last one.
CREATE OR REPLACE FUNCTION ops.run_predict(run_id bigint, kind text, model_name text, params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_explain integer := coalesce((run_predict.params ->> 'explain')::integer, 0);
    v_horizon integer := (run_predict.params ->> 'horizon')::integer;
    v_max_explain integer;
    v_trained_horizon integer;
    v_model record;
    v_rows_in bigint;
    v_rows bigint;
    v_more boolean;
BEGIN
    IF run_predict.kind = 'churn' THEN
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
    END IF;
    SELECT * INTO v_model FROM ops.model_version(run_predict.kind, run_predict.model_name);
    -- Scoring is called once per batch of the input: holding the version's row keeps
    -- an activation from retiring it until the run ends, so every batch scores with it.
    PERFORM 1 FROM models.registry AS r WHERE r.model_id = v_model.model_id FOR SHARE;
    IF run_predict.kind = 'forecaster' THEN
        SELECT (r.spec #>> '{options,horizon}')::integer INTO v_trained_horizon
        FROM models.registry AS r WHERE r.model_id = v_model.model_id;
        IF v_horizon < 1 OR v_horizon > v_trained_horizon THEN
            RAISE EXCEPTION 'sqlml: horizon % is beyond what model % (version %) was trained for: 1 to % periods',
                v_horizon, quote_literal(run_predict.model_name), v_model.version,
                v_trained_horizon
                USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'pass a smaller horizon, or train a version with options {"horizon": N}';
        END IF;
    END IF;
    PERFORM ops.record_drift(run_predict.run_id, v_model.model_id);
    IF run_predict.kind = 'churn' THEN
        -- The scores (and reasons) are written by the embedded-Python step itself (one
        -- prepared INSERT from two text payloads), in this transaction: handing 200,000
        -- of them back as arrays to unnest here cost more than scoring them.
        SELECT s.written, s.more INTO v_rows, v_more
        FROM ops.python_step('score_churn', run_predict.run_id, jsonb_build_object(
            'model_id', v_model.model_id, 'onnx_sha256', v_model.onnx_sha256,
            'explain', v_explain
        ), v_model.onnx_artifact) AS s (written bigint, more boolean);
        v_rows_in := v_rows;
        IF v_more THEN
            -- ops.call reads the next batch with the caller's rights and calls again.
            RETURN jsonb_build_object('run_id', run_predict.run_id, 'next_batch', true);
        END IF;
    ELSE
        INSERT INTO predictions.forecasts (
            run_id, model_id, series_id, period, step, forecast, lower, upper
        )
        SELECT run_predict.run_id, v_model.model_id, f.series_id, f.period, f.step,
            f.forecast, f.lower, f.upper
        FROM ops.python_step('forecast', run_predict.run_id, jsonb_build_object(
            'onnx_sha256', v_model.onnx_sha256, 'horizon', v_horizon
        ), v_model.onnx_artifact) AS f (
            series_id text, period timestamp(0), step integer, forecast double precision,
            lower double precision, upper double precision
        );
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        SELECT count(DISTINCT f.series_id) INTO v_rows_in
        FROM predictions.forecasts AS f WHERE f.run_id = run_predict.run_id;
    END IF;
    PERFORM ops.finish_run(run_predict.run_id, v_model.model_id, v_rows_in, v_rows);
    RETURN jsonb_build_object('run_id', run_predict.run_id, 'model_id', v_model.model_id,
        'version', v_model.version,
        CASE run_predict.kind WHEN 'churn' THEN 'rows_scored' ELSE 'rows_written' END, v_rows);
END;
$$;
REVOKE ALL ON FUNCTION ops.run_predict(bigint, text, text, jsonb) FROM public;
