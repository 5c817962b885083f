-- ops.run_import: check an imported ONNX model in the embedded Python and register it
-- as the model's next version of kind 'imported', in one transaction. Called by
-- ops.call for ml.import_model, in the run it opened (@run_id); ml.import_model says
-- what the arguments mean. The reference query (@options' reference_query), if any,
-- is the script's input, read with the caller's rights. Returns one row: model_id,
-- model_name, version, status, metrics (JSON).
CREATE OR ALTER PROCEDURE ops.run_import
    @run_id BIGINT,
    @model_name NVARCHAR(4000),
    @model VARBINARY(MAX),
    @options NVARCHAR(MAX),
    @activate BIT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
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
    DECLARE @script_error NVARCHAR(MAX);
    SET @activate = COALESCE(@activate, 1);
    IF @model IS NULL
        THROW 50701, N'sqlml: model is NULL: pass the bytes of an .onnx file', 1;
    SELECT @spec = s.spec FROM models.specs AS s WHERE s.kind = N'imported';
    IF @spec IS NULL
        THROW 50703, N'sqlml: no spec for model kind imported; run sqlml deploy', 1;
    -- Malformed options are the Python's to name; only the query is taken here.
    IF ISJSON(@options) = 1
        SET @query = JSON_VALUE(@options, '$.reference_query');
    -- Types the language extension refuses: a sqlml error naming the column and its CAST.
    IF @query IS NOT NULL
        EXEC ops.check_input_types @input_query = @query;

    -- Two calls, because a script with no input query takes no @input_data_1.
    IF @query IS NULL
    BEGIN
        EXEC sp_execute_external_script
            @language = N'sqlml_python',
            @script = N'from sqlml.adapters.mssql_imported import import_model
artifact, onnx_artifact, registration, script_error = import_model(model, spec, options)',
            @params = N'@model VARBINARY(MAX), @spec NVARCHAR(MAX), @options NVARCHAR(MAX), @artifact VARBINARY(MAX) OUTPUT, @onnx_artifact VARBINARY(MAX) OUTPUT, @registration NVARCHAR(MAX) OUTPUT, @script_error NVARCHAR(MAX) OUTPUT',
            @model = @model,
            @spec = @spec,
            @options = @options,
            @artifact = @artifact OUTPUT,
            @onnx_artifact = @onnx_artifact OUTPUT,
            @registration = @registration OUTPUT,
            @script_error = @script_error OUTPUT
        WITH RESULT SETS NONE;
        EXEC ops.raise_script_error @script_error = @script_error, @error_number = 50702;
    END
    ELSE
    BEGIN
        EXEC sp_execute_external_script
            @language = N'sqlml_python',
            @script = N'from sqlml.adapters.mssql_imported import import_model
artifact, onnx_artifact, registration, script_error = import_model(model, spec, options, InputDataSet)',
            @input_data_1 = @query,
            @input_data_1_name = N'InputDataSet',
            @params = N'@model VARBINARY(MAX), @spec NVARCHAR(MAX), @options NVARCHAR(MAX), @artifact VARBINARY(MAX) OUTPUT, @onnx_artifact VARBINARY(MAX) OUTPUT, @registration NVARCHAR(MAX) OUTPUT, @script_error NVARCHAR(MAX) OUTPUT',
            @model = @model,
            @spec = @spec,
            @options = @options,
            @artifact = @artifact OUTPUT,
            @onnx_artifact = @onnx_artifact OUTPUT,
            @registration = @registration OUTPUT,
            @script_error = @script_error OUTPUT
        WITH RESULT SETS NONE;
        EXEC ops.raise_script_error @script_error = @script_error, @error_number = 50702;
    END;

    BEGIN TRANSACTION;
    EXEC ops.register_model
        @kind = N'imported',
        @model_name = @model_name,
        @artifact = @artifact,
        @onnx_artifact = @onnx_artifact,
        @registration = @registration,
        @activate = @activate,
        @model_id = @model_id OUTPUT,
        @version = @version OUTPUT,
        @status = @status OUTPUT,
        @status_reason = @status_reason OUTPUT;
    -- ops.register_model's rule for kind imported (no metric to compare: @activate
    -- decides) writes the status and its reason.
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
END;
