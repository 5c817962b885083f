-- ml.spark_fail: fail a Spark job's run and delete its stage. Called by sqlml.spark
-- when the job fails after ml.spark_begin (reading, scoring, writing or publishing),
-- so the failure is in ops.runs and the staged rows are gone. Only the login that
-- began the run may fail it. Returns one row: closed (1 when it closed an open
-- stage, 0 when there was none: closed already).
CREATE OR ALTER PROCEDURE ml.spark_fail
    @run_id BIGINT,
    @error NVARCHAR(MAX)
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @created_by NVARCHAR(128);
    DECLARE @failure NVARCHAR(MAX) = COALESCE(@error, N'failed');
    DECLARE @message NVARCHAR(2048);
    BEGIN TRY
        SELECT @created_by = s.created_by
        FROM ops.spark_stages AS s
        WHERE s.run_id = @run_id;
        IF @created_by IS NOT NULL AND @created_by <> ORIGINAL_LOGIN()
        BEGIN
            SET @message = CONCAT(
                N'sqlml: Spark run ', @run_id, N' belongs to ', @created_by,
                N', not to ', ORIGINAL_LOGIN()
            );
            THROW 50000, @message, 1;
        END;
        IF @created_by IS NOT NULL
            EXEC ops.close_spark_stage @run_id = @run_id, @error = @failure;
        SELECT CAST(IIF(@created_by IS NULL, 0, 1) AS BIT) AS closed;
    END TRY
    BEGIN CATCH
        IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;
END;
