-- ops.close_spark_stage: delete a Spark run's stage and, when @error is given, mark
-- the run failed with it if it is still running. Called by ml.spark_publish (no
-- error: the run was just finished, in the caller's transaction), ml.spark_fail and
-- ml.spark_abandon. Returns nothing.
CREATE OR ALTER PROCEDURE ops.close_spark_stage
    @run_id BIGINT,
    @error NVARCHAR(MAX) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @model_id BIGINT;
    -- No CATCH block: with XACT_ABORT ON any error rolls the transaction back (the
    -- caller's too, when it has one).
    BEGIN TRANSACTION;
    SELECT @model_id = s.model_id
    FROM ops.spark_stages AS s WITH (UPDLOCK, HOLDLOCK)
    WHERE s.run_id = @run_id;
    IF @error IS NOT NULL
        EXEC ops.fail_run @run_id = @run_id, @model_id = @model_id, @error = @error;
    DELETE FROM staging.churn_scores WHERE run_id = @run_id;
    DELETE FROM staging.forecasts WHERE run_id = @run_id;
    DELETE FROM ops.spark_stages WHERE run_id = @run_id;
    COMMIT TRANSACTION;
END;
