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
-- ops.train_model's, shared by every model kind.
CREATE OR REPLACE FUNCTION ml.train_forecaster(
    model_name text,
    input_query text DEFAULT NULL,
    options text DEFAULT NULL,
    activate boolean DEFAULT true
)
RETURNS SETOF ml.trained_model
LANGUAGE plpgsql
AS $$
BEGIN
    RETURN QUERY SELECT * FROM ops.train_model(
        'forecaster', 'train_forecaster', model_name, input_query, options, activate
    );
END;
$$;
