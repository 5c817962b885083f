-- ml.spark_publish: publish a Spark job's stage as one succeeded run, in one
-- transaction. Called by sqlml.spark once every task has written its rows. A
-- retried or speculative Spark task may have appended the same rows twice: the
-- stage is deduplicated on the prediction table's key, and refused when one key
-- carries two different values. It is refused too unless it holds exactly
-- @rows_expected distinct keys (the job's own count of what it read) and, for
-- forecasts, @rows_in series. The run records rows_in and rows_out like
-- ml.score_churn / ml.forecast, and the stage's rows are deleted. Only the login
-- that opened the stage may publish it; it needs no right on the tables written
-- (ownership chaining).
-- Returns one row: run_id, model_id, version, rows_written. On any error nothing
-- is published and the stage stays open for ml.spark_fail.
CREATE OR ALTER PROCEDURE ml.spark_publish
    @stage_id BIGINT,
    @rows_in BIGINT,
    @rows_expected BIGINT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @kind NVARCHAR(32);
    DECLARE @run_type NVARCHAR(64);
    DECLARE @model_name NVARCHAR(128);
    DECLARE @model_id BIGINT;
    DECLARE @params NVARCHAR(MAX);
    DECLARE @started_at DATETIMEOFFSET;
    DECLARE @created_by NVARCHAR(128);
    DECLARE @version INT;
    DECLARE @keys BIGINT;
    DECLARE @series BIGINT;
    DECLARE @bad BIGINT;
    DECLARE @conflicts BIGINT;
    DECLARE @run_id BIGINT;
    DECLARE @rows BIGINT;
    DECLARE @message NVARCHAR(2048);
    BEGIN TRY
        BEGIN TRANSACTION;
        SELECT
            @kind = s.kind,
            @run_type = s.run_type,
            @model_name = s.model_name,
            @model_id = s.model_id,
            @params = s.params,
            @started_at = s.started_at,
            @created_by = s.created_by
        FROM ops.spark_stages AS s WITH (UPDLOCK, HOLDLOCK)
        WHERE s.stage_id = @stage_id;
        IF @kind IS NULL
        BEGIN
            SET @message = CONCAT(
                N'sqlml: Spark stage ', @stage_id,
                N' is not open (published, failed or abandoned already)'
            );
            THROW 50000, @message, 1;
        END;
        IF @created_by <> ORIGINAL_LOGIN()
        BEGIN
            SET @message = CONCAT(
                N'sqlml: Spark stage ', @stage_id, N' belongs to ', @created_by,
                N', not to ', ORIGINAL_LOGIN()
            );
            THROW 50000, @message, 1;
        END;
        SELECT @version = r.version FROM models.registry AS r WHERE r.model_id = @model_id;

        IF @kind = N'churn'
        BEGIN
            SELECT
                @keys = COUNT(DISTINCT s.customer_id),
                @bad = SUM(CASE WHEN s.customer_id IS NULL OR s.churn_probability IS NULL
                    OR s.churn_probability NOT BETWEEN 0 AND 1 THEN 1 ELSE 0 END)
            FROM staging.churn_scores AS s
            WHERE s.stage_id = @stage_id;
            SELECT @conflicts = COUNT(*) FROM (
                SELECT s.customer_id FROM staging.churn_scores AS s
                WHERE s.stage_id = @stage_id
                GROUP BY s.customer_id
                HAVING MIN(s.churn_probability) <> MAX(s.churn_probability)
            ) AS c;
        END;
        ELSE
        BEGIN
            SELECT
                @keys = COUNT(DISTINCT CONCAT(s.series_id, N'|', s.period)),
                @series = COUNT(DISTINCT s.series_id),
                @bad = SUM(CASE WHEN s.series_id IS NULL OR s.period IS NULL OR s.step IS NULL
                    OR s.step < 1 OR s.forecast IS NULL THEN 1 ELSE 0 END)
            FROM staging.forecasts AS s
            WHERE s.stage_id = @stage_id;
            SELECT @conflicts = COUNT(*) FROM (
                SELECT s.series_id FROM staging.forecasts AS s
                WHERE s.stage_id = @stage_id
                GROUP BY s.series_id, s.period
                HAVING MIN(s.forecast) <> MAX(s.forecast) OR MIN(s.step) <> MAX(s.step)
                    OR MIN(s.lower) <> MAX(s.lower) OR MIN(s.upper) <> MAX(s.upper)
            ) AS c;
        END;
        IF COALESCE(@bad, 0) > 0
        BEGIN
            SET @message = CONCAT(
                N'sqlml: Spark stage ', @stage_id, N' holds ', @bad,
                N' row(s) with a missing key or value, or a probability outside 0..1'
            );
            THROW 50000, @message, 1;
        END;
        IF @conflicts > 0
        BEGIN
            SET @message = CONCAT(
                N'sqlml: Spark stage ', @stage_id, N' gives ', @conflicts,
                N' key(s) two different predictions; a key must be unique in the input query'
            );
            THROW 50000, @message, 1;
        END;
        IF @keys <> @rows_expected
        BEGIN
            SET @message = CONCAT(
                N'sqlml: Spark stage ', @stage_id, N' holds ', @keys,
                N' distinct key(s), but the job expected ', @rows_expected,
                N'; the input changed while the job read it, a task lost rows, or the input',
                N' query repeats a key: run the job again'
            );
            THROW 50000, @message, 1;
        END;
        IF @kind = N'forecaster' AND @series <> @rows_in
        BEGIN
            SET @message = CONCAT(
                N'sqlml: Spark stage ', @stage_id, N' forecasts ', @series,
                N' series, but the job read ', @rows_in
            );
            THROW 50000, @message, 1;
        END;

        SET @params = JSON_MODIFY(COALESCE(@params, N'{}'), '$.stage_id', @stage_id);
        EXEC ops.begin_run
            @run_type = @run_type,
            @model_name = @model_name,
            @params = @params,
            @run_id = @run_id OUTPUT;
        UPDATE ops.runs
        SET started_at = @started_at, created_by = @created_by
        WHERE run_id = @run_id;
        IF @kind = N'churn'
            INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)
            SELECT @run_id, @model_id, s.customer_id, MIN(s.churn_probability)
            FROM staging.churn_scores AS s
            WHERE s.stage_id = @stage_id
            GROUP BY s.customer_id;
        ELSE
            INSERT INTO predictions.forecasts (
                run_id, model_id, series_id, period, step, forecast, lower, upper
            )
            SELECT
                @run_id, @model_id, s.series_id, s.period, MIN(s.step), MIN(s.forecast),
                MIN(s.lower), MIN(s.upper)
            FROM staging.forecasts AS s
            WHERE s.stage_id = @stage_id
            GROUP BY s.series_id, s.period;
        SET @rows = @@ROWCOUNT;
        EXEC ops.finish_run
            @run_id = @run_id, @model_id = @model_id, @rows_in = @rows_in, @rows_out = @rows;
        DELETE FROM staging.churn_scores WHERE stage_id = @stage_id;
        DELETE FROM staging.forecasts WHERE stage_id = @stage_id;
        DELETE FROM ops.spark_stages WHERE stage_id = @stage_id;
        COMMIT TRANSACTION;

        SELECT
            @run_id AS run_id,
            @model_id AS model_id,
            @version AS version,
            @rows AS rows_written;
    END TRY
    BEGIN CATCH
        IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;
        THROW;
    END CATCH;
END;
