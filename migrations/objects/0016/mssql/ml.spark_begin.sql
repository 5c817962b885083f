-- ml.spark_begin: open a stage for a Spark scoring or forecasting job (`sqlml spark
-- score|forecast`, sqlml.spark). Resolves the model exactly as ml.score_churn /
-- ml.forecast do (the active version through ops.active_model, or @model_version
-- when given; its kind; a horizon it was trained for) and records the stage in
-- ops.spark_stages; the job's executors then append to staging.churn_scores or
-- staging.forecasts with its stage_id. The job's role (sqlml_spark) reads no
-- registry table: this procedure hands it the version (ownership chaining).
-- Callers must be members of sqlml_spark (sql/mssql/35_spark.sql says why).
-- Returns one row: stage_id, model_id, version, onnx_artifact, onnx_sha256.
-- Nothing reaches ops.runs until ml.spark_publish or ml.spark_fail closes the stage.
CREATE OR ALTER PROCEDURE ml.spark_begin
    @kind NVARCHAR(32),
    @model_name NVARCHAR(128),
    @model_version INT = NULL,
    @horizon INT = NULL,
    @params NVARCHAR(MAX) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @model_id BIGINT;
    DECLARE @version INT;
    DECLARE @onnx_artifact VARBINARY(MAX);
    DECLARE @onnx_sha256 CHAR(64);
    DECLARE @found_kind NVARCHAR(32);
    DECLARE @trained_horizon INT;
    DECLARE @stage_id BIGINT;
    DECLARE @message NVARCHAR(2048);
    BEGIN TRY
        IF COALESCE(IS_ROLEMEMBER(N'sqlml_spark'), 0) = 0
            AND COALESCE(IS_ROLEMEMBER(N'db_owner'), 0) = 0
            THROW 50000, N'sqlml: publishing from Spark needs role sqlml_spark', 1;
        IF @kind NOT IN (N'churn', N'forecaster')
        BEGIN
            SET @message = CONCAT(
                N'sqlml: kind ''', @kind, N''' is not one Spark scores (churn or forecaster)'
            );
            THROW 50000, @message, 1;
        END;
        IF @model_version IS NULL
            EXEC ops.active_model
                @kind = @kind,
                @model_name = @model_name,
                @model_id = @model_id OUTPUT,
                @version = @version OUTPUT,
                @onnx_artifact = @onnx_artifact OUTPUT,
                @onnx_sha256 = @onnx_sha256 OUTPUT;
        ELSE
        BEGIN
            SELECT
                @model_id = r.model_id,
                @version = r.version,
                @onnx_artifact = r.onnx_artifact,
                @onnx_sha256 = r.onnx_sha256,
                @found_kind = r.kind
            FROM models.registry AS r
            WHERE r.model_name = @model_name AND r.version = @model_version;
            IF @model_id IS NULL
            BEGIN
                SET @message = CONCAT(
                    N'sqlml: model ''', @model_name, N''' has no version ', @model_version
                );
                THROW 50000, @message, 1;
            END;
            IF @found_kind <> @kind
            BEGIN
                SET @message = CONCAT(
                    N'sqlml: model ''', @model_name, N''' is a ', @found_kind,
                    N' model, not a ', @kind, N' model'
                );
                THROW 50000, @message, 1;
            END;
        END;
        IF @horizon IS NOT NULL
        BEGIN
            SELECT @trained_horizon = CAST(JSON_VALUE(r.spec, '$.options.horizon') AS INT)
            FROM models.registry AS r
            WHERE r.model_id = @model_id;
            IF @kind <> N'forecaster' OR @horizon < 1 OR @horizon > @trained_horizon
            BEGIN
                SET @message = CONCAT(
                    N'sqlml: horizon ', @horizon, N' is beyond what model ''', @model_name,
                    N''' (version ', @version, N') was trained for: 1 to ',
                    COALESCE(CAST(@trained_horizon AS NVARCHAR(16)), N'(not a forecaster)'),
                    N' months'
                );
                THROW 50000, @message, 1;
            END;
        END;

        INSERT INTO ops.spark_stages (
            kind, run_type, model_name, model_id, horizon, params, created_by
        )
        VALUES (
            @kind,
            CASE @kind WHEN N'churn' THEN N'spark_score_churn' ELSE N'spark_forecast' END,
            @model_name, @model_id, @horizon, @params, ORIGINAL_LOGIN()
        );
        SET @stage_id = SCOPE_IDENTITY();

        SELECT
            @stage_id AS stage_id,
            @model_id AS model_id,
            @version AS version,
            @onnx_artifact AS onnx_artifact,
            @onnx_sha256 AS onnx_sha256;
    END TRY
    BEGIN CATCH
        THROW;
    END CATCH;
END;
