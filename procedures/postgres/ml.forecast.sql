-- ml.forecast(model_name, horizon, input_query): forecast every series with the
-- model's active version and write the batch to predictions.forecasts in one
-- transaction. Called by reports, `sqlml`, and the monthly forecast job; analysts
-- then read predictions.forecast_latest.
--   horizon      periods ahead, 1 to the horizon the version was trained for; NULL: that
--   input_query  NULL: the spec's default (features.forecast_input); runs with the
--                caller's rights; needs series_id, period (date), value. Each series is
--                forecast from its last month with a value.
-- Returns one row: run_id, model_id, version, rows_written (horizon rows per series).
-- Every call is a run in ops.runs (rows_in: series); on any error nothing is written.
CREATE OR REPLACE FUNCTION ml.forecast(
    model_name text,
    horizon integer DEFAULT NULL,
    input_query text DEFAULT NULL
)
RETURNS TABLE (run_id bigint, model_id bigint, version integer, rows_written bigint)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
    v_params jsonb := jsonb_build_object(
        'horizon', forecast.horizon, 'input_query', forecast.input_query
    );
    v_run_id bigint;
    v_model_id bigint;
    v_version integer;
    v_onnx bytea;
    v_sha text;
    v_trained_horizon integer;
    v_query text;
    v_rows bigint;
    v_series bigint;
BEGIN
    BEGIN
        v_run_id := ops.begin_run('forecast', forecast.model_name, v_params);
        SELECT a.model_id, a.version, a.onnx_artifact, a.onnx_sha256
        INTO v_model_id, v_version, v_onnx, v_sha
        FROM ops.active_model('forecaster', forecast.model_name) AS a;
        SELECT (r.spec #>> '{options,horizon}')::integer INTO v_trained_horizon
        FROM models.registry AS r WHERE r.model_id = v_model_id;
        IF forecast.horizon < 1 OR forecast.horizon > v_trained_horizon THEN
            RAISE EXCEPTION 'sqlml: horizon % is beyond what model % (version %) was trained for: 1 to % periods',
                forecast.horizon, quote_literal(forecast.model_name), v_version, v_trained_horizon
                USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'pass a smaller horizon, or train a version with options {"horizon": N}';
        END IF;
        SELECT coalesce(forecast.input_query, s.spec #>> '{input,default_query}')
        INTO v_query FROM models.specs AS s WHERE s.kind = 'forecaster';

        INSERT INTO predictions.forecasts (
            run_id, model_id, series_id, period, step, forecast, lower, upper
        )
        SELECT v_run_id, v_model_id, f.series_id, f.period, f.step, f.forecast, f.lower, f.upper
        FROM ops.forecast_py(v_query, v_onnx, v_sha, forecast.horizon) AS f;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        SELECT count(DISTINCT f.series_id) INTO v_series
        FROM predictions.forecasts AS f WHERE f.run_id = v_run_id;
        PERFORM ops.finish_run(v_run_id, v_model_id, v_series, v_rows);
    EXCEPTION WHEN OTHERS THEN
        -- Re-raised with the same SQLSTATE, minus PL/Python's exception-class
        -- prefix and traceback: the caller sees the sentence that names the problem.
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_message := regexp_replace(v_message, '^plpy\.Error: ', '');
        PERFORM ops.fail_run(
            v_run_id, 'forecast', forecast.model_name, v_model_id, v_params, v_message
        );
        PERFORM ops.reraise(v_state, v_message, v_detail, v_hint);
    END;
    RETURN QUERY SELECT v_run_id, v_model_id, v_version, v_rows;
END;
$$;
