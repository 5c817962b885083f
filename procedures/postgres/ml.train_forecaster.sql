-- ml.train_forecaster(model_name, input_query, options, activate): train the LSTM
-- forecaster on many monthly series inside the database and register it as the
-- model's next version. Called by ML engineers and `sqlml`.
--   input_query  NULL: the spec's default (features.forecast_input); runs with the
--                caller's rights; needs series_id, period (date), value
--   options      JSON text overriding models/forecaster.json options (horizon,
--                lookback, units, ...); unknown keys are errors
--   activate     activate the new version if its backtest MASE is at most the
--                active version's
-- Returns one row: model_id, model_name, version, status, metrics (JSON text:
-- backtest mase, smape, rmse, coverage, baseline_mase of seasonal naive, ...).
-- Every call is a run in ops.runs; on any error nothing is registered.
CREATE OR REPLACE FUNCTION ml.train_forecaster(
    model_name text,
    input_query text DEFAULT NULL,
    options text DEFAULT NULL,
    activate boolean DEFAULT true
)
RETURNS SETOF ml.trained_model
LANGUAGE plpgsql
AS $$
DECLARE
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
    v_params jsonb := jsonb_build_object(
        'input_query', input_query, 'options', options, 'activate', activate
    );
    v_run_id bigint;
    v_spec jsonb;
    v_trained record;
    v_registered record;
BEGIN
    BEGIN
        v_run_id := ops.begin_run('train_forecaster', model_name, v_params);
        SELECT s.spec INTO v_spec FROM models.specs AS s WHERE s.kind = 'forecaster';
        IF v_spec IS NULL THEN
            RAISE EXCEPTION 'sqlml: no spec for model kind forecaster'
                USING ERRCODE = 'undefined_object', HINT = 'run sqlml deploy';
        END IF;
        SELECT * INTO v_trained FROM ops.forecaster_train_py(
            coalesce(input_query, v_spec #>> '{input,default_query}'), v_spec, options
        );
        SELECT * INTO v_registered FROM ops.register_model(
            'forecaster', model_name, v_trained.artifact, v_trained.onnx_artifact,
            v_trained.registration, coalesce(activate, true)
        );
        PERFORM ops.finish_run(
            v_run_id, v_registered.model_id,
            (v_trained.registration ->> 'trained_rows')::bigint, 1
        );
    EXCEPTION WHEN OTHERS THEN
        -- Re-raised with the same SQLSTATE, minus PL/Python's exception-class
        -- prefix and traceback: the caller sees the sentence that names the problem.
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_message := regexp_replace(v_message, '^plpy\.Error: ', '');
        PERFORM ops.fail_run(v_run_id, 'train_forecaster', model_name, NULL, v_params, v_message);
        PERFORM ops.reraise(v_state, v_message, v_detail, v_hint);
    END;
    RETURN QUERY SELECT
        v_registered.model_id,
        model_name,
        v_registered.version,
        v_registered.status,
        (v_trained.registration -> 'metrics')::text;
END;
$$;
