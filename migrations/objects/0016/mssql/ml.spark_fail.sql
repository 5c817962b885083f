-- ml.spark_fail: close a Spark job's stage as a failed run. Called by sqlml.spark
-- when the job fails after ml.spark_begin (reading, scoring, writing or
-- publishing), so the failure is in ops.runs and the stage's rows are gone. Only
-- the login that opened the stage may fail it. Returns one row: run_id of the
-- failed run, or NULL when the stage is not open (already closed).
CREATE OR ALTER PROCEDURE ml.spark_fail
    @stage_id BIGINT,
    @error NVARCHAR(MAX)
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @created_by NVARCHAR(128);
    DECLARE @run_id BIGINT;
    DECLARE @message NVARCHAR(2048);
    BEGIN TRY
        SELECT @created_by = s.created_by
        FROM ops.spark_stages AS s
        WHERE s.stage_id = @stage_id;
        IF @created_by IS NOT NULL AND @created_by <> ORIGINAL_LOGIN()
        BEGIN
            SET @message = CONCAT(
                N'sqlml: Spark stage ', @stage_id, N' belongs to ', @created_by,
                N', not to ', ORIGINAL_LOGIN()
            );
            THROW 50000, @message, 1;
        END;
        IF @created_by IS NOT NULL
            EXEC ops.close_spark_stage
                @stage_id = @stage_id, @error = @error, @run_id = @run_id OUTPUT;
        SELECT @run_id AS run_id;
    END TRY
    BEGIN CATCH
        IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;
END;
