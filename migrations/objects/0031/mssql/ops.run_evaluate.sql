-- ops.run_evaluate: the work of ml.evaluate, in the run ops.call opened (@run_id).
-- Scores the caller's labelled rows with the version (churn) or compares the caller's
-- actuals with the version's latest forecast of each period (forecaster), in the
-- embedded Python (sqlml/kinds/evaluation.py, with the caller's rights for
-- @input_query); writes models.evaluations and the run's outcome in one transaction.
-- Returns one row: run_id, model_id, version, rows, metrics (JSON).
CREATE OR ALTER PROCEDURE ops.run_evaluate
    @run_id BIGINT,
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX),
    @version INT = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @kind NVARCHAR(32);
    DECLARE @model_id BIGINT;
    DECLARE @found_version INT;
    DECLARE @onnx_artifact VARBINARY(MAX);
    DECLARE @onnx_sha256 CHAR(64);
    DECLARE @query NVARCHAR(MAX);
    DECLARE @recorded NVARCHAR(MAX);
    DECLARE @spec_input NVARCHAR(MAX);
    DECLARE @forecasts NVARCHAR(MAX);
    DECLARE @season INT;
    DECLARE @rows BIGINT;
    DECLARE @metrics NVARCHAR(MAX);
    DECLARE @script_error NVARCHAR(MAX);
    SELECT @kind = MIN(r.kind) FROM models.registry AS r WHERE r.model_name = @model_name;
    EXEC ops.model_version
        @kind = @kind,
        @model_name = @model_name,
        @model_version = @version,
        @run_id = @run_id,
        @model_id = @model_id OUTPUT,
        @version = @found_version OUTPUT,
        @onnx_artifact = @onnx_artifact OUTPUT,
        @onnx_sha256 = @onnx_sha256 OUTPUT;
    SELECT
        @recorded = r.metrics,
        @season = ROUND(COALESCE(TRY_CAST(JSON_VALUE(r.metrics, '$.season') AS FLOAT), 1), 0)
    FROM models.registry AS r
    WHERE r.model_id = @model_id;
    SELECT
        @query = COALESCE(@input_query, JSON_VALUE(s.spec, '$.input.default_query')),
        @spec_input = JSON_QUERY(s.spec, '$.input')
    FROM models.specs AS s
    WHERE s.kind = @kind;
    -- Types the language extension refuses: a sqlml error naming the column and its CAST.
    EXEC ops.check_input_types @input_query = @query;

    IF @kind = N'churn'
    BEGIN
        EXEC sp_execute_external_script
            @language = N'sqlml_python',
            @script = N'from sqlml.adapters.mssql import evaluate_churn
rows, metrics, script_error = evaluate_churn(InputDataSet, onnx_artifact, onnx_sha256, recorded, spec_input)',
            @input_data_1 = @query,
            @input_data_1_name = N'InputDataSet',
            @params = N'@onnx_artifact VARBINARY(MAX), @onnx_sha256 CHAR(64), @recorded NVARCHAR(MAX), @spec_input NVARCHAR(MAX), @rows BIGINT OUTPUT, @metrics NVARCHAR(MAX) OUTPUT, @script_error NVARCHAR(MAX) OUTPUT',
            @onnx_artifact = @onnx_artifact,
            @onnx_sha256 = @onnx_sha256,
            @recorded = @recorded,
            @spec_input = @spec_input,
            @rows = @rows OUTPUT,
            @metrics = @metrics OUTPUT,
            @script_error = @script_error OUTPUT
        WITH RESULT SETS NONE;
        EXEC ops.raise_script_error @script_error = @script_error, @error_number = 50701;
    END
    ELSE
    BEGIN
        -- The version's latest forecast of each period (a later run supersedes an
        -- earlier one's forecast of the same period).
        SET @forecasts = (
            SELECT f.series_id, f.period, f.forecast, f.lower, f.upper
            FROM (
                SELECT
                    p.series_id,
                    p.period,
                    p.forecast,
                    p.lower,
                    p.upper,
                    ROW_NUMBER() OVER (
                        PARTITION BY p.series_id, p.period ORDER BY p.run_id DESC
                    ) AS recency
                FROM predictions.forecasts AS p
                WHERE p.model_id = @model_id
            ) AS f
            WHERE f.recency = 1
            FOR JSON PATH
        );
        EXEC sp_execute_external_script
            @language = N'sqlml_python',
            @script = N'from sqlml.adapters.mssql import evaluate_forecaster
rows, metrics, script_error = evaluate_forecaster(InputDataSet, forecasts, season)',
            @input_data_1 = @query,
            @input_data_1_name = N'InputDataSet',
            @params = N'@forecasts NVARCHAR(MAX), @season INT, @rows BIGINT OUTPUT, @metrics NVARCHAR(MAX) OUTPUT, @script_error NVARCHAR(MAX) OUTPUT',
            @forecasts = @forecasts,
            @season = @season,
            @rows = @rows OUTPUT,
            @metrics = @metrics OUTPUT,
            @script_error = @script_error OUTPUT
        WITH RESULT SETS NONE;
        EXEC ops.raise_script_error @script_error = @script_error, @error_number = 50702;
    END;

    BEGIN TRANSACTION;
    INSERT INTO models.evaluations (run_id, model_id, model_name, version, rows, metrics)
    VALUES (@run_id, @model_id, @model_name, @found_version, @rows, @metrics);
    UPDATE ops.runs SET outcome = @metrics WHERE run_id = @run_id;
    EXEC ops.finish_run @run_id = @run_id, @model_id = @model_id, @rows_in = @rows, @rows_out = 1;
    COMMIT TRANSACTION;

    SELECT
        @run_id AS run_id,
        @model_id AS model_id,
        @found_version AS version,
        @rows AS rows,
        @metrics AS metrics;
END;
