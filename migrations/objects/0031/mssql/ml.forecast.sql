-- ml.forecast: forecast every series with one version of the model (@version NULL:
-- the active one) and write the batch to predictions.forecasts in one transaction. Called by reports, `sqlml`, and
-- the monthly forecast job (SQL Agent); analysts then read predictions.forecast_latest.
--   @horizon      periods ahead, 1 to the horizon the version was trained for; NULL: that
--   @input_query  NULL: the spec's default (features.forecast_input); runs with the
--                 caller's rights; needs series_id, period (date), value. Each series is
--                 forecast from its last month with a value.
--   @version      NULL (the default): the active version; a number: that version (a
--                 challenger's forecasts, which ml.evaluate can later compare with
--                 the actuals; predictions.forecast_latest keeps showing the active one's)
-- Returns one row: run_id, model_id, version, rows_written (horizon rows per series).
-- Every call is a run in ops.runs (rows_in: series); on any error nothing is written.
-- The work is ops.call's (ops.run_forecast).
CREATE OR ALTER PROCEDURE ml.forecast
    @model_name NVARCHAR(4000),
    @horizon INT = NULL,
    @input_query NVARCHAR(MAX) = NULL,
    @version INT = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    EXEC ops.call
        @run_type = N'forecast', @model_name = @model_name, @horizon = @horizon,
        @input_query = @input_query, @version = @version;
END;
