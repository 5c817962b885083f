-- ml.train_forecaster: train the LSTM forecaster on series of any frequency inside SQL
-- Server and register it as the model's next version. Called by ML engineers and
-- `sqlml`.
--   @input_query  NULL: the spec's default (features.forecast_input); runs with the
--                 caller's rights; needs series_id, period (date), value
--   @options      JSON overriding models/forecaster.json options (horizon, lookback,
--                 units, ...); unknown keys are errors
--   @activate     activate the new version if its backtest MASE is at most the
--                 active version's
-- Returns one row: model_id, model_name, version, status, metrics (JSON: backtest
-- mase, smape, rmse, coverage, baseline_mase of seasonal naive, ...).
-- Every call is a run in ops.runs; on any error nothing is registered. The work is
-- ops.call's (ops.run_train, shared by every model kind).
CREATE OR ALTER PROCEDURE ml.train_forecaster
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX) = NULL,
    @options NVARCHAR(MAX) = NULL,
    @activate BIT = 1
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    EXEC ops.call
        @run_type = N'train_forecaster', @model_name = @model_name, @input_query = @input_query,
        @options = @options, @activate = @activate;
END;
