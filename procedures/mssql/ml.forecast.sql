-- ml.forecast: forecast every series with the model's active version and write the
-- batch to predictions.forecasts in one transaction. Called by reports, `sqlml`, and
-- the monthly forecast job (SQL Agent); analysts then read predictions.forecast_latest.
--   @horizon      periods ahead, 1 to the horizon the version was trained for; NULL: that
--   @input_query  NULL: the spec's default (features.forecast_input); runs with the
--                 caller's rights; needs series_id, period (date), value. Each series is
--                 forecast from its last month with a value.
-- Returns one row: run_id, model_id, version, rows_written (horizon rows per series).
-- Every call is a run in ops.runs (rows_in: series); on any error nothing is written.
-- The work is ops.call's (ops.run_forecast).
CREATE OR ALTER PROCEDURE ml.forecast
    @model_name NVARCHAR(4000),
    @horizon INT = NULL,
    @input_query NVARCHAR(MAX) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    EXEC ops.call
        @run_type = N'forecast', @model_name = @model_name, @horizon = @horizon,
        @input_query = @input_query;
END;
