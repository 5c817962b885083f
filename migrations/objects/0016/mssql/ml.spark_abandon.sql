-- ml.spark_abandon: close the stages of Spark runs that will never be published, and
-- fail their runs: runs no longer running, and runs begun more than
-- @older_than_minutes ago (a driver that died, a cluster that was stopped). Also
-- deletes staged rows no open run owns. Called by a DBA, an operator or a SQL Agent
-- job; the default, a day, is longer than any Spark job sqlml expects. Returns one
-- row per stage closed: run_id, status (the run's, after closing).
CREATE OR ALTER PROCEDURE ml.spark_abandon
    @older_than_minutes INT = 1440
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @run_id BIGINT;
    DECLARE @started_at DATETIMEOFFSET;
    DECLARE @error NVARCHAR(MAX);
    DECLARE @closed TABLE (run_id BIGINT NOT NULL);
    DECLARE stages CURSOR LOCAL FAST_FORWARD FOR
    SELECT
        s.run_id,
        r.started_at
    FROM ops.spark_stages AS s
    LEFT JOIN ops.runs AS r ON s.run_id = r.run_id
    WHERE
        r.status IS NULL OR r.status <> N'running'
        OR r.started_at < DATEADD(MINUTE, -@older_than_minutes, SYSDATETIMEOFFSET())
    ORDER BY s.run_id;
    OPEN stages;
    FETCH NEXT FROM stages INTO @run_id, @started_at;
    WHILE @@FETCH_STATUS = 0
    BEGIN
        SET @error = CONCAT(
            N'sqlml: abandoned: Spark run ', @run_id, N' began at ', @started_at,
            N' and was never published'
        );
        EXEC ops.close_spark_stage @run_id = @run_id, @error = @error;
        INSERT INTO @closed (run_id) VALUES (@run_id);
        FETCH NEXT FROM stages INTO @run_id, @started_at;
    END;
    CLOSE stages;
    DEALLOCATE stages;
    DELETE FROM staging.churn_scores
    WHERE run_id NOT IN (SELECT s.run_id FROM ops.spark_stages AS s);
    DELETE FROM staging.forecasts
    WHERE run_id NOT IN (SELECT s.run_id FROM ops.spark_stages AS s);
    SELECT
        c.run_id,
        r.status
    FROM @closed AS c
    INNER JOIN ops.runs AS r ON c.run_id = r.run_id;
END;
