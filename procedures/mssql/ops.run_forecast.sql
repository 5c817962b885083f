-- ops.run_forecast: forecast every series with one version of the model (@model_version;
-- NULL: the active one) and write
-- the batch to predictions.forecasts in one transaction. Called by ops.call for
-- ml.forecast, in the run it opened (@run_id); ml.forecast says what the arguments
-- mean. Its steps are ops.run_score_churn's, with the forecaster's script, result set
-- and table (one body per kind, as on PostgreSQL). Returns one row: run_id, model_id,
-- version, rows_written.
-- The input is read in batches of the spec's scoring.mssql_batch_series series, by
-- ranges of the series id (as ops.run_score_churn reads ranges of customer ids;
-- docs/scale.md): each batch is one external script whose process holds that batch of
-- whole series, never all of them; every series' level and scale travel from batch to
-- batch in @drift_state (two numbers a series), and the forecasts gather in #forecasts,
-- written in one transaction at the end. Each range is found with the caller's query,
-- as dynamic SQL, so with the caller's rights (docs/trust-mssql.md).
CREATE OR ALTER PROCEDURE ops.run_forecast
    @run_id BIGINT,
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX),
    @horizon INT,
    @model_version INT = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @model_id BIGINT;
    DECLARE @version INT;
    DECLARE @onnx_artifact VARBINARY(MAX);
    DECLARE @onnx_sha256 CHAR(64);
    DECLARE @trained_horizon INT;
    DECLARE @query NVARCHAR(MAX);
    DECLARE @rows BIGINT;
    DECLARE @series BIGINT;
    DECLARE @profile NVARCHAR(MAX);
    DECLARE @drift NVARCHAR(MAX);
    DECLARE @script_error NVARCHAR(MAX);
    DECLARE @message NVARCHAR(2048);
    DECLARE @duplicate NVARCHAR(128);
    DECLARE @series_column NVARCHAR(128);
    DECLARE @batch_series BIGINT;
    DECLARE @batch_query NVARCHAR(MAX);
    DECLARE @bounds NVARCHAR(MAX);
    DECLARE @previous NVARCHAR(4000);
    DECLARE @last NVARCHAR(4000);
    DECLARE @in_range BIGINT;
    DECLARE @batch INT = 0;
    DECLARE @drift_state NVARCHAR(MAX);
    DECLARE @series_read BIGINT;
    -- No key here: series ids that the database's collation takes for one are found
    -- below and refused in a sentence (as ops.run_score_churn does for customer ids).
    CREATE TABLE #forecasts (
        series_id NVARCHAR(128) COLLATE DATABASE_DEFAULT NOT NULL,
        period DATETIME2(0) NOT NULL,
        step INT NOT NULL,
        forecast FLOAT NOT NULL,
        lower FLOAT NULL,
        upper FLOAT NULL
    );
    EXEC ops.model_version
        @kind = N'forecaster',
        @model_name = @model_name,
        @model_version = @model_version,
        @run_id = @run_id,
        @model_id = @model_id OUTPUT,
        @version = @version OUTPUT,
        @onnx_artifact = @onnx_artifact OUTPUT,
        @onnx_sha256 = @onnx_sha256 OUTPUT;
    -- Scored by another version than the active one: a shadow run, which the analysts'
    -- latest views leave out (ops.runs.shadow_of: the version active now, 0 for none).
    IF NOT EXISTS (
        SELECT 1 FROM models.registry AS r WHERE r.model_id = @model_id AND r.status = N'active'
    )
        UPDATE ops.runs
        SET shadow_of = COALESCE((
            SELECT a.model_id FROM models.registry AS a
            WHERE a.model_name = @model_name AND a.status = N'active'
        ), 0)
        WHERE run_id = @run_id;
    SELECT
        @trained_horizon = CAST(JSON_VALUE(r.spec, '$.options.horizon') AS INT),
        @profile = JSON_QUERY(r.feature_schema, '$.profile')
    FROM models.registry AS r
    WHERE r.model_id = @model_id;
    IF @horizon < 1 OR @horizon > @trained_horizon
    BEGIN
        SET @message = CONCAT(
            N'sqlml: horizon ', @horizon, N' is beyond what model ''', @model_name,
            N''' (version ', @version, N') was trained for: 1 to ', @trained_horizon,
            N' periods; pass a smaller horizon, or train a version with options {"horizon": N}'
        );
        THROW 50601, @message, 1;
    END;
    SELECT
        @query = COALESCE(@input_query, JSON_VALUE(s.spec, '$.input.default_query')),
        @series_column = COALESCE(JSON_VALUE(s.spec, '$.input.series_id_column'), N'series_id'),
        @batch_series = COALESCE(
            CAST(JSON_VALUE(s.spec, '$.scoring.mssql_batch_series') AS BIGINT), 5000
        )
    FROM models.specs AS s
    WHERE s.kind = N'forecaster';
    -- Types the language extension refuses: a sqlml error naming the column and its CAST.
    EXEC ops.check_input_types @input_query = @query;
    -- Each batch embeds the query in a statement of its own: exactly one query, by
    -- SQL Server's parser, or a second statement would run here (issue 22).
    EXEC ops.check_input_query @input_query = @query;

    -- Batch by batch: the next range of series ids holds @batch_series series, each
    -- with all its rows; the first range also holds the rows whose series id is NULL,
    -- so the script refuses them as it would in one batch. An empty input still runs
    -- the script once, which checks the columns.
    WHILE 1 = 1
    BEGIN
        SET @bounds = CONCAT(
            N'SELECT @last = CONVERT(NVARCHAR(4000), MAX(b.k)), @in_range = COUNT_BIG(*) ',
            N'FROM (SELECT TOP (@batch_series) d.k FROM (SELECT DISTINCT q.',
            QUOTENAME(@series_column), N' AS k FROM (', NCHAR(10), @query, NCHAR(10), N') AS q',
            CASE WHEN @batch > 0 THEN CONCAT(N' WHERE q.', QUOTENAME(@series_column), N' > @previous') END,
            N') AS d ORDER BY d.k) AS b'
        );
        EXEC sp_executesql
            @bounds,
            N'@batch_series BIGINT, @previous NVARCHAR(4000), @last NVARCHAR(4000) OUTPUT, @in_range BIGINT OUTPUT',
            @batch_series = @batch_series,
            @previous = @previous,
            @last = @last OUTPUT,
            @in_range = @in_range OUTPUT;
        IF @in_range = 0 AND @batch > 0
            BREAK;
        -- The range's bounds go in as N'' literals: @input_data_1 takes no parameters of
        -- its own. An integer id compares with them as a number, a text id as text.
        SET @batch_query = CONCAT(
            N'SELECT q.* FROM (', NCHAR(10), @query, NCHAR(10), N') AS q WHERE ',
            CASE WHEN @batch > 0 THEN CONCAT(
                N'q.', QUOTENAME(@series_column), N' > N''', REPLACE(@previous, N'''', N''''''), N''' AND '
            ) ELSE CONCAT(N'(q.', QUOTENAME(@series_column), N' IS NULL OR ') END,
            CASE WHEN @last IS NULL THEN N'1 = 1' ELSE CONCAT(
                N'q.', QUOTENAME(@series_column), N' <= N''', REPLACE(@last, N'''', N''''''), N''''
            ) END,
            CASE WHEN @batch > 0 THEN N'' ELSE N')' END
        );
        SET @batch += 1;
        INSERT INTO #forecasts (series_id, period, step, forecast, lower, upper)
        EXEC sp_execute_external_script
            @language = N'sqlml_python',
            @script = N'from sqlml.adapters.mssql import forecast_batch
OutputDataSet, drift_state, drift, series_read, script_error = forecast_batch(InputDataSet, onnx_artifact, onnx_sha256, horizon, profile, drift_state)',
            @input_data_1 = @batch_query,
            @input_data_1_name = N'InputDataSet',
            @output_data_1_name = N'OutputDataSet',
            @params = N'@onnx_artifact VARBINARY(MAX), @onnx_sha256 CHAR(64), @horizon INT, @profile NVARCHAR(MAX), @drift_state NVARCHAR(MAX) OUTPUT, @drift NVARCHAR(MAX) OUTPUT, @series_read BIGINT OUTPUT, @script_error NVARCHAR(MAX) OUTPUT',
            @onnx_artifact = @onnx_artifact,
            @onnx_sha256 = @onnx_sha256,
            @horizon = @horizon,
            @profile = @profile,
            @drift_state = @drift_state OUTPUT,
            @drift = @drift OUTPUT,
            @series_read = @series_read OUTPUT,
            @script_error = @script_error OUTPUT
        WITH RESULT SETS ((
            series_id NVARCHAR(128) NOT NULL,
            period DATETIME2(0) NOT NULL,
            step INT NOT NULL,
            forecast FLOAT NOT NULL,
            lower FLOAT NULL,
            upper FLOAT NULL
        ));
        EXEC ops.raise_script_error @script_error = @script_error, @error_number = 50602;
        -- Progress, one message per batch, sent at once; severity 0 is a message.
        SET @message = CONCAT(N'sqlml: forecast batch ', @batch, N' (', @series_read, N' series)');
        RAISERROR (N'%s', 0, 1, @message) WITH NOWAIT;
        IF @in_range < @batch_series OR @last IS NULL
            BREAK;
        SET @previous = @last;
    END;

    SELECT TOP (1) @duplicate = MIN(f.series_id)
    FROM #forecasts AS f
    GROUP BY f.series_id, f.period
    HAVING COUNT(*) > 1;
    IF @duplicate IS NOT NULL
    BEGIN
        SET @message = CONCAT(
            N'sqlml: series_id ''', @duplicate, N''' comes more than once under this ',
            N'database''s collation (',
            CAST(DATABASEPROPERTYEX(DB_NAME(), 'Collation') AS NVARCHAR(128)),
            N'), which compares ids without regard to case or trailing spaces: make them ',
            N'distinct in the input_query (docs/report-authors.md)'
        );
        THROW 50603, @message, 1;
    END;

    BEGIN TRANSACTION;
    INSERT INTO predictions.forecasts (
        run_id, model_id, series_id, period, step, forecast, lower, upper
    )
    SELECT @run_id, @model_id, f.series_id, f.period, f.step, f.forecast, f.lower, f.upper
    FROM #forecasts AS f;
    SET @rows = @@ROWCOUNT;
    SELECT @series = COUNT(DISTINCT f.series_id) FROM #forecasts AS f;
    EXEC ops.record_drift @run_id = @run_id, @model_id = @model_id, @drift = @drift;
    EXEC ops.finish_run
        @run_id = @run_id, @model_id = @model_id, @rows_in = @series, @rows_out = @rows;
    COMMIT TRANSACTION;

    SELECT
        @run_id AS run_id,
        @model_id AS model_id,
        @version AS version,
        @rows AS rows_written;
END;
