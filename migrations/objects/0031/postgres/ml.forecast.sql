-- ml.forecast(model_name, horizon, input_query, version): forecast every series with
-- one version of the model (NULL: the active one) and write the batch to predictions.forecasts in one
-- transaction. Called by reports, `sqlml`, and the monthly forecast job; analysts
-- then read predictions.forecast_latest.
--   horizon      periods ahead, 1 to the horizon the version was trained for; NULL: that
--   input_query  NULL: the spec's default (features.forecast_input); runs with the
--                caller's rights; needs series_id, period (date), value. Each series is
--                forecast from its last period with a value.
--   version      NULL (the default): the active version; a number: that version (a
--                challenger's forecasts, which ml.evaluate can later compare with the
--                actuals; predictions.forecast_latest keeps showing the active one's)
-- Returns one row: run_id, model_id, version, rows_written (horizon rows per series).
-- Every call is a run in ops.runs (rows_in: series); on any error nothing is written.
-- The work is ops.call's.
CREATE OR REPLACE FUNCTION ml.forecast(
    model_name text,
    horizon integer DEFAULT NULL,
    input_query text DEFAULT NULL,
    version integer DEFAULT NULL
)
RETURNS TABLE (run_id bigint, model_id bigint, version integer, rows_written bigint)
LANGUAGE sql
AS $$
SELECT * FROM jsonb_to_record(ops.call(
    'forecast', forecast.model_name,
    jsonb_build_object('horizon', forecast.horizon, 'input_query', forecast.input_query,
        'version', forecast.version),
    ops.input_or_default('forecaster', forecast.input_query)
)) AS r (run_id bigint, model_id bigint, version integer, rows_written bigint);
$$;
REVOKE ALL ON FUNCTION ml.forecast(text, integer, text, integer) FROM public;
GRANT EXECUTE ON FUNCTION ml.forecast(text, integer, text, integer) TO sqlml_operator;
