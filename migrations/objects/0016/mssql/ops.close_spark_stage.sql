-- ops.close_spark_stage: record a Spark stage as a failed run and delete its rows,
-- in one transaction. Called by ml.spark_fail and ml.spark_abandon. Returns
-- @run_id (OUTPUT), the failed run's; NULL when the stage was closed meanwhile.
CREATE OR ALTER PROCEDURE ops.close_spark_stage
    @stage_id BIGINT,
    @error NVARCHAR(MAX),
    @run_id BIGINT OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    BEGIN TRY
        BEGIN TRANSACTION;
        INSERT INTO ops.runs (
            run_type, model_name, model_id, status, params, started_at, finished_at, error,
            created_by
        )
        SELECT
            s.run_type, s.model_name, s.model_id, N'failed',
            JSON_MODIFY(COALESCE(s.params, N'{}'), '$.stage_id', s.stage_id),
            s.started_at, SYSDATETIMEOFFSET(), @error, s.created_by
        FROM ops.spark_stages AS s WITH (UPDLOCK, HOLDLOCK)
        WHERE s.stage_id = @stage_id;
        SET @run_id = IIF(@@ROWCOUNT = 1, SCOPE_IDENTITY(), NULL);
        DELETE FROM staging.churn_scores WHERE stage_id = @stage_id;
        DELETE FROM staging.forecasts WHERE stage_id = @stage_id;
        DELETE FROM ops.spark_stages WHERE stage_id = @stage_id;
        COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;
END;
