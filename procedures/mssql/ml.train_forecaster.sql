-- ml.train_forecaster: train the LSTM forecaster on many monthly series inside SQL
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
-- Every call is a run in ops.runs; on any error nothing is registered.
CREATE OR ALTER PROCEDURE ml.train_forecaster
    @model_name NVARCHAR(128),
    @input_query NVARCHAR(MAX) = NULL,
    @options NVARCHAR(MAX) = NULL,
    @activate BIT = 1
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @run_id BIGINT;
    DECLARE @spec NVARCHAR(MAX);
    DECLARE @query NVARCHAR(MAX);
    DECLARE @artifact VARBINARY(MAX);
    DECLARE @onnx_artifact VARBINARY(MAX);
    DECLARE @registration NVARCHAR(MAX);
    DECLARE @model_id BIGINT;
    DECLARE @version INT;
    DECLARE @status NVARCHAR(16);
    DECLARE @status_reason NVARCHAR(MAX);
    DECLARE @trained_rows BIGINT;
    DECLARE @error NVARCHAR(MAX);
    DECLARE @params NVARCHAR(MAX) = (
        SELECT
            @input_query AS input_query,
            @options AS options,
            @activate AS activate
        FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES
    );
    BEGIN TRY
        EXEC ops.begin_run
            @run_type = N'train_forecaster',
            @model_name = @model_name,
            @params = @params,
            @run_id = @run_id OUTPUT;
        SELECT @spec = s.spec FROM models.specs AS s WHERE s.kind = N'forecaster';
        IF @spec IS NULL
            THROW 50501, N'sqlml: no spec for model kind forecaster; run sqlml deploy', 1;
        SET @query = COALESCE(@input_query, JSON_VALUE(@spec, '$.input.default_query'));

        EXEC sp_execute_external_script
            @language = N'sqlml_python',
            @script = N'from sqlml.adapters.mssql import train_forecaster
artifact, onnx_artifact, registration = train_forecaster(InputDataSet, spec, options)',
            @input_data_1 = @query,
            @input_data_1_name = N'InputDataSet',
            @params = N'@spec NVARCHAR(MAX), @options NVARCHAR(MAX), @artifact VARBINARY(MAX) OUTPUT, @onnx_artifact VARBINARY(MAX) OUTPUT, @registration NVARCHAR(MAX) OUTPUT',
            @spec = @spec,
            @options = @options,
            @artifact = @artifact OUTPUT,
            @onnx_artifact = @onnx_artifact OUTPUT,
            @registration = @registration OUTPUT
        WITH RESULT SETS NONE;

        BEGIN TRANSACTION;
        EXEC ops.register_model
            @kind = N'forecaster',
            @model_name = @model_name,
            @artifact = @artifact,
            @onnx_artifact = @onnx_artifact,
            @registration = @registration,
            @activate = @activate,
            @model_id = @model_id OUTPUT,
            @version = @version OUTPUT,
            @status = @status OUTPUT,
            @status_reason = @status_reason OUTPUT;
        SET @trained_rows = CAST(JSON_VALUE(@registration, '$.trained_rows') AS BIGINT);
        EXEC ops.finish_run
            @run_id = @run_id, @model_id = @model_id, @rows_in = @trained_rows, @rows_out = 1;
        COMMIT TRANSACTION;

        SELECT
            @model_id AS model_id,
            @model_name AS model_name,
            @version AS version,
            @status AS status,
            JSON_QUERY(@registration, '$.metrics') AS metrics;
    END TRY
    BEGIN CATCH
        IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;
        SET @error = ERROR_MESSAGE();
        EXEC ops.fail_run
            @run_id = @run_id,
            @run_type = N'train_forecaster',
            @model_name = @model_name,
            @params = @params,
            @error = @error;
        THROW;
    END CATCH;
END;
