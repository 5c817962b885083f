-- ml.spark_abandon: close the Spark stages opened more than @older_than_minutes ago
-- and never published (a driver that died, a cluster that was stopped) as failed
-- runs, and delete their rows, with rows of stages no longer open. Called by a DBA,
-- an operator or a SQL Agent job; the default, a day, is longer than any Spark job
-- sqlml expects. Returns one row per stage closed: stage_id, run_id.
CREATE OR ALTER PROCEDURE ml.spark_abandon
    @older_than_minutes INT = 1440
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @stage_id BIGINT;
    DECLARE @run_id BIGINT;
    DECLARE @error NVARCHAR(MAX);
    DECLARE @closed TABLE (stage_id BIGINT NOT NULL, run_id BIGINT NULL);
    BEGIN TRY
        DECLARE stages CURSOR LOCAL FAST_FORWARD FOR
        SELECT s.stage_id
        FROM ops.spark_stages AS s
        WHERE s.started_at < DATEADD(MINUTE, -@older_than_minutes, SYSDATETIMEOFFSET())
        ORDER BY s.stage_id;
        OPEN stages;
        FETCH NEXT FROM stages INTO @stage_id;
        WHILE @@FETCH_STATUS = 0
        BEGIN
            SET @error = CONCAT(
                N'abandoned: Spark stage ', @stage_id, N' was opened more than ',
                @older_than_minutes, N' minutes ago and never published'
            );
            EXEC ops.close_spark_stage
                @stage_id = @stage_id, @error = @error, @run_id = @run_id OUTPUT;
            INSERT INTO @closed (stage_id, run_id) VALUES (@stage_id, @run_id);
            FETCH NEXT FROM stages INTO @stage_id;
        END;
        CLOSE stages;
        DEALLOCATE stages;
        DELETE FROM staging.churn_scores
        WHERE stage_id NOT IN (SELECT s.stage_id FROM ops.spark_stages AS s);
        DELETE FROM staging.forecasts
        WHERE stage_id NOT IN (SELECT s.stage_id FROM ops.spark_stages AS s);
        SELECT c.stage_id, c.run_id FROM @closed AS c;
    END TRY
    BEGIN CATCH
        THROW;
    END CATCH;
END;
