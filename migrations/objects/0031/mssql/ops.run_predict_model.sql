-- ops.run_predict_model: score rows with an imported model's active version and write
-- the batch to predictions.model_scores, its drift to ops.run_drift and, for a version
-- imported without a reference_query, this first run's profile to its feature_schema,
-- in one transaction. Called by ops.call for ml.predict, in the run it opened
-- (@run_id); ml.predict says what the arguments mean. Returns one row: run_id,
-- model_id, version, rows_scored.
CREATE OR ALTER PROCEDURE ops.run_predict_model
    @run_id BIGINT,
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX)
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @model_id BIGINT;
    DECLARE @version INT;
    DECLARE @onnx_artifact VARBINARY(MAX);
    DECLARE @onnx_sha256 CHAR(64);
    DECLARE @feature_schema NVARCHAR(MAX);
    DECLARE @rows BIGINT;
    DECLARE @drift NVARCHAR(MAX);
    DECLARE @profile NVARCHAR(MAX);
    DECLARE @script_error NVARCHAR(MAX);
    DECLARE @query NVARCHAR(MAX);
    CREATE TABLE #scores (
        row_id NVARCHAR(256) NOT NULL PRIMARY KEY,
        score FLOAT NOT NULL,
        label NVARCHAR(256) NULL
    );
    IF @input_query IS NULL
        THROW 50751, N'sqlml: input_query is required: the rows to score, with the model''s id column and input columns', 1;
    EXEC ops.model_version
        @kind = N'imported',
        @model_name = @model_name,
        @run_id = @run_id,
        @model_id = @model_id OUTPUT,
        @version = @version OUTPUT,
        @onnx_artifact = @onnx_artifact OUTPUT,
        @onnx_sha256 = @onnx_sha256 OUTPUT;
    SELECT @feature_schema = r.feature_schema
    FROM models.registry AS r
    WHERE r.model_id = @model_id;
    SET @query = @input_query;
    -- Types the language extension refuses: a sqlml error naming the column and its CAST.
    EXEC ops.check_input_types @input_query = @query;

    INSERT INTO #scores (row_id, score, label)
    EXEC sp_execute_external_script
        @language = N'sqlml_python',
        @script = N'from sqlml.adapters.mssql_imported import predict_with_drift
OutputDataSet, drift, profile, script_error = predict_with_drift(InputDataSet, onnx_artifact, onnx_sha256, feature_schema)',
        @input_data_1 = @query,
        @input_data_1_name = N'InputDataSet',
        @output_data_1_name = N'OutputDataSet',
        @params = N'@onnx_artifact VARBINARY(MAX), @onnx_sha256 CHAR(64), @feature_schema NVARCHAR(MAX), @drift NVARCHAR(MAX) OUTPUT, @profile NVARCHAR(MAX) OUTPUT, @script_error NVARCHAR(MAX) OUTPUT',
        @onnx_artifact = @onnx_artifact,
        @onnx_sha256 = @onnx_sha256,
        @feature_schema = @feature_schema,
        @drift = @drift OUTPUT,
        @profile = @profile OUTPUT,
        @script_error = @script_error OUTPUT
    WITH RESULT SETS ((row_id NVARCHAR(256) NOT NULL, score FLOAT NOT NULL, label NVARCHAR(256) NULL));
    EXEC ops.raise_script_error @script_error = @script_error, @error_number = 50752;

    BEGIN TRANSACTION;
    INSERT INTO predictions.model_scores (run_id, model_id, row_id, score, label)
    SELECT @run_id, @model_id, s.row_id, s.score, s.label
    FROM #scores AS s;
    SET @rows = @@ROWCOUNT;
    IF @profile IS NOT NULL
        UPDATE models.registry
        SET feature_schema = JSON_MODIFY(feature_schema, '$.profile', JSON_QUERY(@profile))
        WHERE model_id = @model_id AND JSON_QUERY(feature_schema, '$.profile') IS NULL;
    EXEC ops.record_drift @run_id = @run_id, @model_id = @model_id, @drift = @drift;
    EXEC ops.finish_run
        @run_id = @run_id, @model_id = @model_id, @rows_in = @rows, @rows_out = @rows;
    COMMIT TRANSACTION;

    SELECT
        @run_id AS run_id,
        @model_id AS model_id,
        @version AS version,
        @rows AS rows_scored;
END;
