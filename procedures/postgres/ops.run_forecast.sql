-- ops.run_forecast(run_id, model_name, horizon, version): forecast every series the
-- caller staged for the run with one version of the model (NULL: the active one), and write the forecasts to
-- predictions.forecasts and their drift to ops.run_drift (written by the forecasting
-- step itself: one crossing into Python) in this transaction, so a failed run has
-- neither. horizon: 1 to the version's; NULL: the version's. Called by
-- ops.run_call for ml.forecast, with the owner's rights (the twin of SQL Server's
-- ops.run_forecast). Returns {run_id, model_id, version, rows_written}.
-- The input comes in batches of whole series (adapters/postgres_series.py): for every
-- batch but the last it returns {run_id, next_batch: true}, and ops.call stages the
-- next batch and calls again; drift is measured over all series with the last one.
CREATE OR REPLACE FUNCTION ops.run_forecast(
    run_id bigint, model_name text, horizon integer, version integer DEFAULT NULL
)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_trained_horizon integer;
    v_model record;
    v_series bigint;
    v_rows bigint;
    v_more boolean;
BEGIN
    SELECT * INTO v_model FROM ops.model_version('forecaster', run_forecast.model_name,
        run_forecast.version);
    -- Called once per batch of series: holding the version's row keeps an activation
    -- from retiring it until the run ends, so every batch forecasts with it.
    PERFORM 1 FROM models.registry AS r WHERE r.model_id = v_model.model_id FOR SHARE;
    -- Scored by another version than the active one: a shadow run, which the analysts'
    -- latest views leave out (ops.runs.shadow_of: the version active now, 0 for none).
    UPDATE ops.runs AS u
    SET shadow_of = coalesce((
        SELECT a.model_id FROM models.registry AS a
        WHERE a.model_name = run_forecast.model_name AND a.status = 'active'
    ), 0)
    WHERE u.run_id = run_forecast.run_id AND NOT EXISTS (
        SELECT FROM models.registry AS r WHERE r.model_id = v_model.model_id AND r.status = 'active'
    );
    SELECT (r.spec #>> '{options,horizon}')::integer INTO v_trained_horizon
    FROM models.registry AS r WHERE r.model_id = v_model.model_id;
    IF run_forecast.horizon < 1 OR run_forecast.horizon > v_trained_horizon THEN
        RAISE EXCEPTION 'sqlml: horizon % is beyond what model % (version %) was trained for: 1 to % periods',
            run_forecast.horizon, quote_literal(run_forecast.model_name), v_model.version,
            v_trained_horizon
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'pass a smaller horizon, or train a version with options {"horizon": N}';
    END IF;
    -- The step writes the batch's forecasts (and, with the last batch, the run's drift)
    -- itself: one crossing into Python per batch.
    SELECT f.more INTO v_more
    FROM ops.python_step('forecast', run_forecast.run_id, jsonb_build_object(
        'onnx_sha256', v_model.onnx_sha256, 'horizon', run_forecast.horizon,
        'model_id', v_model.model_id, 'profile', (
            SELECT r.feature_schema -> 'profile' FROM models.registry AS r
            WHERE r.model_id = v_model.model_id)
    ), v_model.onnx_artifact) AS f (written bigint, more boolean);
    IF v_more THEN
        -- ops.call reads the next batch with the caller's rights and calls again.
        RETURN jsonb_build_object('run_id', run_forecast.run_id, 'next_batch', true);
    END IF;
    SELECT count(*), count(DISTINCT f.series_id) INTO v_rows, v_series
    FROM predictions.forecasts AS f WHERE f.run_id = run_forecast.run_id;
    PERFORM ops.finish_run(run_forecast.run_id, v_model.model_id, v_series, v_rows);
    RETURN jsonb_build_object('run_id', run_forecast.run_id, 'model_id', v_model.model_id,
        'version', v_model.version, 'rows_written', v_rows);
END;
$$;
REVOKE ALL ON FUNCTION ops.run_forecast(bigint, text, integer, integer) FROM public;
