-- ml.score_churn: score customers with the model's active version and write the
-- batch to predictions.churn_scores in one transaction. Called by reports,
-- `sqlml`, and the nightly scoring job (SQL Agent); analysts then read
-- predictions.churn_latest.
--   @input_query  NULL: the spec's default (features.churn_features); runs with the
--                 caller's rights; needs customer_id and the model's feature columns
-- Returns one row: run_id, model_id, version, rows_scored. Every call is a run in
-- ops.runs; on any error no score of the batch is written.
CREATE OR ALTER PROCEDURE ml.score_churn
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @run_id BIGINT;
    DECLARE @model_id BIGINT;
    DECLARE @version INT;
    DECLARE @onnx_artifact VARBINARY(MAX);
    DECLARE @onnx_sha256 CHAR(64);
    DECLARE @query NVARCHAR(MAX);
    DECLARE @rows BIGINT;
    DECLARE @profile NVARCHAR(MAX);
    DECLARE @drift NVARCHAR(MAX);
    DECLARE @script_error NVARCHAR(MAX);
    DECLARE @params NVARCHAR(MAX) = (
        SELECT @input_query AS input_query
        FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES
    );
    CREATE TABLE #scores (
        customer_id NVARCHAR(64) NOT NULL PRIMARY KEY,
        churn_probability FLOAT NOT NULL
    );
    BEGIN TRY
        EXEC ops.begin_run
            @run_type = N'score_churn',
            @model_name = @model_name,
            @params = @params,
            @run_id = @run_id OUTPUT;
        EXEC ops.model_version
            @kind = N'churn',
            @model_name = @model_name,
            @model_id = @model_id OUTPUT,
            @version = @version OUTPUT,
            @onnx_artifact = @onnx_artifact OUTPUT,
            @onnx_sha256 = @onnx_sha256 OUTPUT;
        SELECT @profile = JSON_QUERY(r.feature_schema, '$.profile')
        FROM models.registry AS r
        WHERE r.model_id = @model_id;
        SELECT @query = COALESCE(@input_query, JSON_VALUE(s.spec, '$.input.default_query'))
        FROM models.specs AS s
        WHERE s.kind = N'churn';

        INSERT INTO #scores (customer_id, churn_probability)
        EXEC sp_execute_external_script
            @language = N'sqlml_python',
            @script = N'from sqlml.adapters.mssql import score_churn_with_drift
OutputDataSet, drift, script_error = score_churn_with_drift(InputDataSet, onnx_artifact, onnx_sha256, profile)',
            @input_data_1 = @query,
            @input_data_1_name = N'InputDataSet',
            @output_data_1_name = N'OutputDataSet',
            @params = N'@onnx_artifact VARBINARY(MAX), @onnx_sha256 CHAR(64), @profile NVARCHAR(MAX), @drift NVARCHAR(MAX) OUTPUT, @script_error NVARCHAR(MAX) OUTPUT',
            @onnx_artifact = @onnx_artifact,
            @onnx_sha256 = @onnx_sha256,
            @profile = @profile,
            @drift = @drift OUTPUT,
            @script_error = @script_error OUTPUT
        WITH RESULT SETS ((customer_id NVARCHAR(64) NOT NULL, churn_probability FLOAT NOT NULL));
        EXEC ops.raise_script_error @script_error = @script_error, @error_number = 50501;

        BEGIN TRANSACTION;
        INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)
        SELECT @run_id, @model_id, s.customer_id, s.churn_probability
        FROM #scores AS s;
        SET @rows = @@ROWCOUNT;
        EXEC ops.record_drift @run_id = @run_id, @model_id = @model_id, @drift = @drift;
        EXEC ops.finish_run
            @run_id = @run_id, @model_id = @model_id, @rows_in = @rows, @rows_out = @rows;
        COMMIT TRANSACTION;

        SELECT
            @run_id AS run_id,
            @model_id AS model_id,
            @version AS version,
            @rows AS rows_scored;
    END TRY
    BEGIN CATCH
        IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;
        EXEC ops.fail_run @run_id = @run_id, @model_id = @model_id;
        THROW;
    END CATCH;
END;
