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
    DECLARE @kind NVARCHAR(32);
    DECLARE @model_id BIGINT;
    DECLARE @failure NVARCHAR(MAX) = COALESCE(@error, N'failed');
    -- No CATCH block: with XACT_ABORT ON any error rolls the transaction back.
    BEGIN TRANSACTION;
    EXEC ops.claim_spark_stage @run_id = @run_id, @kind = @kind OUTPUT, @model_id = @model_id OUTPUT;
    IF @kind IS NOT NULL
        EXEC ops.close_spark_stage @run_id = @run_id, @error = @failure;
    COMMIT TRANSACTION;
    SELECT CAST(IIF(@kind IS NULL, 0, 1) AS BIT) AS closed;
END;
