-- ml.spark_begin: open a run and its stage for a Spark scoring or forecasting job
-- (`sqlml spark score|forecast`, sqlml.spark). Opens the run through ops.begin_run
-- (run type score_churn or forecast, params.engine "spark"), resolves the model
-- exactly as ml.score_churn / ml.forecast do (ops.model_version: @model_version when
-- given, else the active version; its kind; a horizon it was trained
-- for; a refusal fails the run through ops.fail_run) and records the stage in
-- ops.spark_stages; the job's executors then append to
-- staging.churn_scores or staging.forecasts with its run_id. The job's role
-- (sqlml_spark) reads no registry table: this procedure hands it the version
-- (ownership chaining). Callers must be members of sqlml_spark (sql/mssql/35_spark.sql
-- says why). Returns one row: run_id, model_id, version, onnx_artifact, onnx_sha256.
-- The run then ends through ml.spark_publish (succeeded), ml.spark_fail or
-- ml.spark_abandon (failed).
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
    DECLARE @trained_horizon INT;
    DECLARE @run_id BIGINT;
    DECLARE @run_params NVARCHAR(MAX);
    DECLARE @message NVARCHAR(2048);
    DECLARE @run_type NVARCHAR(64) = IIF(@kind = N'churn', N'score_churn', N'forecast');
    BEGIN TRY
        -- Every call is a run, as with ml.score_churn: opened first (committed on its
        -- own), and failed by ops.fail_run in the CATCH block when anything below
        -- refuses it. Its own CATCH block, as on PostgreSQL, not ops.call's: the run
        -- outlives this call (ml.spark_publish or ml.spark_fail ends it).
        SET @run_params = JSON_MODIFY(JSON_MODIFY(JSON_MODIFY(
            COALESCE(@params, N'{}'), '$.engine', N'spark'), '$.model_version', @model_version),
            '$.horizon', @horizon);
        EXEC ops.begin_run
            @run_type = @run_type,
            @model_name = @model_name,
            @params = @run_params,
            @run_id = @run_id OUTPUT;
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
        EXEC ops.model_version
            @kind = @kind,
            @model_name = @model_name,
            @model_version = @model_version,
            @model_id = @model_id OUTPUT,
            @version = @version OUTPUT,
            @onnx_artifact = @onnx_artifact OUTPUT,
            @onnx_sha256 = @onnx_sha256 OUTPUT;
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

        INSERT INTO ops.spark_stages (run_id, kind, model_id, horizon, created_by)
        VALUES (@run_id, @kind, @model_id, @horizon, ORIGINAL_LOGIN());

        SELECT
            @run_id AS run_id,
            @model_id AS model_id,
            @version AS version,
            @onnx_artifact AS onnx_artifact,
            @onnx_sha256 AS onnx_sha256;
    END TRY
    BEGIN CATCH
        IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;
        EXEC ops.fail_run @run_id = @run_id, @model_id = @model_id;
        THROW;
    END CATCH;
END;
