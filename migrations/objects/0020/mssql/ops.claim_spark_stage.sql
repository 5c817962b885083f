-- ops.claim_spark_stage: lock a Spark run's open stage for the login that began it.
-- Called by ml.spark_publish (in its transaction) and ml.spark_fail, so that only the
-- login that began a run (ml.spark_begin) may publish or fail it, and a concurrent
-- publish and fail of one run queue on the stage's row. Returns the stage's @kind and
-- @model_id (OUTPUT), both NULL when the run has no open stage (published, failed or
-- abandoned already); refuses another login's stage.
CREATE OR ALTER PROCEDURE ops.claim_spark_stage
    @run_id BIGINT,
    @kind NVARCHAR(32) OUTPUT,
    @model_id BIGINT OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @created_by NVARCHAR(128);
    DECLARE @message NVARCHAR(2048);
    SELECT
        @kind = s.kind,
        @model_id = s.model_id,
        @created_by = s.created_by
    FROM ops.spark_stages AS s WITH (UPDLOCK, HOLDLOCK)
    WHERE s.run_id = @run_id;
    IF @created_by <> ORIGINAL_LOGIN()
    BEGIN
        SET @message = CONCAT(
            N'sqlml: Spark run ', @run_id, N' belongs to ', @created_by,
            N', not to ', ORIGINAL_LOGIN()
        );
        THROW 50000, @message, 1;
    END;
END;
