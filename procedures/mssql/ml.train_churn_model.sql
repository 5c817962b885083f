-- ml.train_churn_model: train a churn classifier inside SQL Server and register it
-- as the model's next version. Called by ML engineers, `sqlml`, and the weekly
-- retraining job (SQL Agent).
--   @input_query  NULL: the spec's default (features.churn_features); runs with the
--                 caller's rights; needs customer_id, churned (0/1) and feature columns
--   @options      JSON overriding models/churn.json options; unknown keys are errors
--   @activate     activate the new version if it beats (or ties) the active one's AUC
-- Returns one row: model_id, model_name, version, status, metrics (JSON).
-- Every call is a run in ops.runs; on any error nothing is registered.
CREATE OR ALTER PROCEDURE ml.train_churn_model
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
            @run_type = N'train_churn_model',
            @model_name = @model_name,
            @params = @params,
            @run_id = @run_id OUTPUT;
        SELECT @spec = s.spec FROM models.specs AS s WHERE s.kind = N'churn';
        IF @spec IS NULL
            THROW 50301, N'sqlml: no spec for model kind churn; run sqlml deploy', 1;
        SET @query = COALESCE(@input_query, JSON_VALUE(@spec, '$.input.default_query'));

        EXEC sp_execute_external_script
            @language = N'sqlml_python',
            @script = N'from sqlml.adapters.mssql import train_churn_model
artifact, onnx_artifact, registration = train_churn_model(InputDataSet, spec, options)',
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
            @kind = N'churn',
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
            @run_type = N'train_churn_model',
            @model_name = @model_name,
            @params = @params,
            @error = @error;
        THROW;
    END CATCH;
END;
