-- ml.train_forecaster(model_name, input_query, options, activate): train the LSTM
-- forecaster on many series of one frequency inside the database and register it as the
-- model's next version. Called by ML engineers and `sqlml`.
--   input_query  NULL: the spec's default (features.forecast_input); runs with the
--                caller's rights; needs series_id, period (date), value
--   options      JSON text overriding models/forecaster.json options (horizon,
--                lookback, units, ...); unknown keys are errors
--   activate     activate the new version if its backtest MASE is at most the
--                active version's
-- Returns one row: model_id, model_name, version, status, metrics (JSON text:
-- backtest mase, smape, rmse, coverage, baseline_mase of seasonal naive, ...).
-- Every call is a run in ops.runs; on any error nothing is registered. The work is
-- ops.call's (ops.run_train), shared by every model kind.
-- Its arguments are ml.train_churn_model's (the public interface), so the two read alike.
CREATE OR REPLACE FUNCTION ml.train_forecaster(
    model_name text,
    input_query text DEFAULT NULL,
    options text DEFAULT NULL,
    activate boolean DEFAULT TRUE
)
RETURNS SETOF ml.trained_model
LANGUAGE sql
AS $$
SELECT * FROM jsonb_populate_record(NULL::ml.trained_model, ops.call(
    'train_forecaster', train_forecaster.model_name,
    jsonb_build_object('input_query', train_forecaster.input_query,
        'options', train_forecaster.options, 'activate', train_forecaster.activate),
    ops.input_or_default('forecaster', train_forecaster.input_query)
));
$$;
REVOKE ALL ON FUNCTION ml.train_forecaster(text, text, text, boolean) FROM public;
GRANT EXECUTE ON FUNCTION ml.train_forecaster(text, text, text, boolean) TO sqlml_operator;
