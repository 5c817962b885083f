-- ml.spark_publish: publish a Spark job's stage and finish its run, in one
-- transaction. Called by sqlml.spark once every task has written its rows. A
-- retried or speculative Spark task may have appended the same rows twice: the
-- stage is deduplicated on the prediction table's key, and refused when one key
-- carries two different values. It is refused too unless it holds exactly
-- @rows_expected distinct keys (the job's own count of what it read) and, for
-- forecasts, @rows_in series. The predictions are written, the run finished through
-- ops.finish_run (rows_in and rows_out as ml.score_churn / ml.forecast count them)
-- and the stage's rows deleted. Only the login that began the run may publish; it
-- needs no right on the tables written (ownership chaining).
-- Returns one row: run_id, model_id, version, rows_written. On any error nothing
-- is published and the run stays open for ml.spark_fail.
CREATE OR ALTER PROCEDURE ml.spark_publish
    @spark_run_id BIGINT,
    @rows_in BIGINT,
    @rows_expected BIGINT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @run_id BIGINT = @spark_run_id;
    DECLARE @kind NVARCHAR(32);
    DECLARE @model_id BIGINT;
    DECLARE @status NVARCHAR(16);
    DECLARE @version INT;
    DECLARE @keys BIGINT;
    DECLARE @series BIGINT;
    DECLARE @bad BIGINT;
    DECLARE @conflicts BIGINT;
    DECLARE @staged BIGINT;
    DECLARE @rows BIGINT;
    DECLARE @message NVARCHAR(2048);
    -- No CATCH block: with XACT_ABORT ON any error rolls the transaction back.
    BEGIN TRANSACTION;
    EXEC ops.claim_spark_stage @run_id = @run_id, @kind = @kind OUTPUT, @model_id = @model_id OUTPUT;
    SELECT @status = r.status FROM ops.runs AS r WHERE r.run_id = @run_id;
    SELECT @version = r.version FROM models.registry AS r WHERE r.model_id = @model_id;

    -- One grouped pass per check set: keys, keys with two different values, rows
    -- with a missing key or value, and all rows staged.
    IF @kind = N'churn'
        SELECT
            @keys = COUNT(*),
            @conflicts = SUM(IIF(g.low <> g.high, 1, 0)),
            @bad = SUM(g.bad) + SUM(IIF(g.customer_id IS NULL, 1, 0)),
            @staged = SUM(g.n)
        FROM (
            SELECT
                s.customer_id,
                MIN(s.churn_probability) AS low,
                MAX(s.churn_probability) AS high,
                COUNT_BIG(*) AS n,
                SUM(IIF(s.churn_probability IS NULL
                    OR s.churn_probability NOT BETWEEN 0 AND 1, 1, 0)) AS bad
            FROM staging.churn_scores AS s
            WHERE s.run_id = @run_id
            GROUP BY s.customer_id
        ) AS g;
    ELSE
        SELECT
            @keys = COUNT(*),
            @conflicts = SUM(IIF(g.variants > 1, 1, 0)),
            @bad = SUM(g.bad) + SUM(IIF(g.series_id IS NULL OR g.period IS NULL, 1, 0)),
            @staged = SUM(g.n),
            @series = COUNT(DISTINCT g.series_id)
        FROM (
            SELECT
                s.series_id,
                s.period,
                COUNT_BIG(*) AS n,
                IIF(MIN(s.forecast) <> MAX(s.forecast) OR MIN(s.step) <> MAX(s.step)
                    OR MIN(s.lower) <> MAX(s.lower) OR MIN(s.upper) <> MAX(s.upper),
                    2, 1) AS variants,
                SUM(IIF(s.step IS NULL OR s.step < 1 OR s.forecast IS NULL, 1, 0)) AS bad
            FROM staging.forecasts AS s
            WHERE s.run_id = @run_id
            GROUP BY s.series_id, s.period
        ) AS g;
    -- The refusals, the first that holds wins: a stage that is not open, a run that is
    -- not running, then what the checks above counted.
    SET @message = CASE
        WHEN @kind IS NULL THEN N' has no open stage (published, failed or abandoned already)'
        WHEN @status <> N'running' THEN CONCAT(
            N' is ', @status, N', so its stage cannot be published; run the job again'
        )
        WHEN COALESCE(@bad, 0) > 0 THEN CONCAT(
            N' staged ', @bad,
            N' row(s) with a missing key or value, or a probability outside 0..1'
        )
        WHEN COALESCE(@conflicts, 0) > 0 THEN CONCAT(
            N' staged ', @conflicts,
            N' key(s) with two different predictions; a key must be unique in the input',
            N' query'
        )
        WHEN @keys <> @rows_expected THEN CONCAT(
            N' staged ', @keys, N' distinct key(s), but the job expected ', @rows_expected,
            N'; the input changed while the job read it, a task lost rows, or the input',
            N' query repeats a key: run the job again'
        )
        WHEN @kind = N'forecaster' AND @series <> @rows_in THEN CONCAT(
            N' forecast ', @series, N' series, but the job read ', @rows_in
        )
    END;
    IF @message IS NOT NULL
    BEGIN
        SET @message = CONCAT(N'sqlml: Spark run ', @run_id, @message);
        THROW 50000, @message, 1;
    END;

    -- Without duplicates (no task was retried after its commit) the stage goes in
    -- as it is; with them, one row per key (their values are equal, checked above).
    IF @kind = N'churn' AND @staged = @keys
        INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)
        SELECT @run_id, @model_id, s.customer_id, s.churn_probability
        FROM staging.churn_scores AS s
        WHERE s.run_id = @run_id;
    ELSE IF @kind = N'churn'
        INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)
        SELECT @run_id, @model_id, s.customer_id, MIN(s.churn_probability)
        FROM staging.churn_scores AS s
        WHERE s.run_id = @run_id
        GROUP BY s.customer_id;
    ELSE
        INSERT INTO predictions.forecasts (
            run_id, model_id, series_id, period, step, forecast, lower, upper
        )
        SELECT
            @run_id, @model_id, s.series_id, s.period, MIN(s.step), MIN(s.forecast),
            MIN(s.lower), MIN(s.upper)
        FROM staging.forecasts AS s
        WHERE s.run_id = @run_id
        GROUP BY s.series_id, s.period;
    SET @rows = @@ROWCOUNT;
    EXEC ops.finish_run
        @run_id = @run_id, @model_id = @model_id, @rows_in = @rows_in, @rows_out = @rows;
    EXEC ops.close_spark_stage @run_id = @run_id;
    COMMIT TRANSACTION;

    SELECT
        @run_id AS run_id,
        @model_id AS model_id,
        @version AS version,
        @rows AS rows_written;
END;
