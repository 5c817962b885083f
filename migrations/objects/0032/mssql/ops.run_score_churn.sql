-- ops.run_score_churn: score customers with one version of the model (@model_version;
-- NULL: the active one) and write the
-- batch to predictions.churn_scores (and, with @explain > 0, each customer's reasons
-- to predictions.churn_reasons) in one transaction. Called by ops.call for
-- ml.score_churn, in the run it opened (@run_id); ml.score_churn says what the
-- arguments mean. Its steps are ops.run_forecast's, with churn's script, result set and
-- tables (one body per kind, as on PostgreSQL). Returns one row: run_id, model_id,
-- version, rows_scored. With @preview = 1 (ml.score_churn_preview) it writes no score,
-- reason or drift and returns the scored rows instead: run_id, model_id, version,
-- customer_id, churn_probability, reasons (JSON; NULL with @explain 0).
-- The input is read in batches of the spec's scoring.mssql_batch_rows rows, by ranges
-- of the id column (docs/scale.md): the language extension streams no input
-- (@r_rowsPerRead is ML Services'), so each batch is one external script whose
-- process holds that batch, never the table; the drift counts travel from batch to
-- batch in @drift_state, and the scores gather in #scores, written in one transaction
-- at the end. Each range is found with the caller's query, as dynamic SQL, so with the
-- caller's rights (docs/trust-mssql.md).
CREATE OR ALTER PROCEDURE ops.run_score_churn
    @run_id BIGINT,
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX),
    @explain INT,
    @preview BIT = 0,
    @model_version INT = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @model_id BIGINT;
    DECLARE @version INT;
    DECLARE @onnx_artifact VARBINARY(MAX);
    DECLARE @onnx_sha256 CHAR(64);
    DECLARE @query NVARCHAR(MAX);
    DECLARE @rows BIGINT;
    DECLARE @profile NVARCHAR(MAX);
    DECLARE @drift NVARCHAR(MAX);
    DECLARE @script_error NVARCHAR(MAX);
    DECLARE @max_explain INT;
    DECLARE @message NVARCHAR(2048);
    DECLARE @duplicate NVARCHAR(64);
    -- No key here: ids that the database's collation takes for one (under the default
    -- case-insensitive one, 'ab' and 'AB', or 'ab' and 'ab ') are found below and
    -- refused in a sentence, not as Msg 2627 on a key of tempdb's collation.
    DECLARE @id_column NVARCHAR(128);
    DECLARE @batch_rows BIGINT;
    DECLARE @batch_query NVARCHAR(MAX);
    DECLARE @bounds NVARCHAR(MAX);
    DECLARE @previous NVARCHAR(4000);
    DECLARE @last NVARCHAR(4000);
    DECLARE @in_range BIGINT;
    DECLARE @batch INT = 0;
    DECLARE @drift_state NVARCHAR(MAX);
    DECLARE @rows_read BIGINT;
    CREATE TABLE #scores (
        customer_id NVARCHAR(64) COLLATE DATABASE_DEFAULT NOT NULL,
        churn_probability FLOAT NOT NULL
    );
    -- @explain > 0: the script's one result set holds scores (rank NULL) and reasons.
    CREATE TABLE #explained (
        customer_id NVARCHAR(64) NOT NULL,
        churn_probability FLOAT NULL,
        rank INT NULL,
        feature NVARCHAR(128) NULL,
        feature_value NVARCHAR(4000) NULL,
        contribution FLOAT NULL
    );
    EXEC ops.model_version
        @kind = N'churn',
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
    -- A preview measures no drift (made-up rows): without a profile the script's
    -- drift is one row saying so, which nothing keeps.
    SELECT @profile = JSON_QUERY(r.feature_schema, '$.profile')
    FROM models.registry AS r
    WHERE r.model_id = @model_id AND @preview = 0;
    SELECT
        @query = COALESCE(@input_query, JSON_VALUE(s.spec, '$.input.default_query')),
        @max_explain = COALESCE(CAST(JSON_VALUE(s.spec, '$.limits.max_explain') AS INT), 0),
        @id_column = COALESCE(JSON_VALUE(s.spec, '$.input.id_column'), N'customer_id'),
        @batch_rows = COALESCE(
            CAST(JSON_VALUE(s.spec, '$.scoring.mssql_batch_rows') AS BIGINT), 1000000
        )
    FROM models.specs AS s
    WHERE s.kind = N'churn';
    -- Explaining costs about (columns + 1) * 32 model evaluations per customer, so
    -- the spec bounds it (a spec without the bound: no reasons).
    IF @explain < 0 OR @explain > @max_explain
    BEGIN
        SET @message = CONCAT(
            N'sqlml: explain must be 0 to ', @max_explain,
            N' (reasons kept per customer); got ', @explain
        );
        THROW 50502, @message, 1;
    END;
    -- Types the language extension refuses: a sqlml error naming the column and its CAST.
    EXEC ops.check_input_types @input_query = @query;
    -- Each batch embeds the query in a statement of its own: exactly one query, by
    -- SQL Server's parser, or a second statement would run here (issue 22).
    EXEC ops.check_input_query @input_query = @query;

    -- Batch by batch: the next range of ids holds @batch_rows rows (WITH TIES: one id
    -- never spans two batches); the first range also holds the rows whose id is NULL,
    -- so the script refuses them as it would in one batch. An empty input still runs
    -- the script once, which checks the columns.
    WHILE 1 = 1
    BEGIN
        SET @bounds = CONCAT(
            N'SELECT @last = CONVERT(NVARCHAR(4000), MAX(b.k)), @in_range = COUNT_BIG(*) ',
            N'FROM (SELECT TOP (@batch_rows) WITH TIES q.', QUOTENAME(@id_column), N' AS k ',
            N'FROM (', NCHAR(10), @query, NCHAR(10), N') AS q',
            CASE WHEN @batch > 0 THEN CONCAT(N' WHERE q.', QUOTENAME(@id_column), N' > @previous') END,
            N' ORDER BY q.', QUOTENAME(@id_column), N') AS b'
        );
        EXEC sp_executesql
            @bounds,
            N'@batch_rows BIGINT, @previous NVARCHAR(4000), @last NVARCHAR(4000) OUTPUT, @in_range BIGINT OUTPUT',
            @batch_rows = @batch_rows,
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
                N'q.', QUOTENAME(@id_column), N' > N''', REPLACE(@previous, N'''', N''''''), N''' AND '
            ) ELSE CONCAT(N'(q.', QUOTENAME(@id_column), N' IS NULL OR ') END,
            CASE WHEN @last IS NULL THEN N'1 = 1' ELSE CONCAT(
                N'q.', QUOTENAME(@id_column), N' <= N''', REPLACE(@last, N'''', N''''''), N''''
            ) END,
            CASE WHEN @batch > 0 THEN N'' ELSE N')' END
        );
        SET @batch += 1;
        -- Two calls because their result sets differ (WITH RESULT SETS is fixed per
        -- call): @explain = 0 keeps the lean two columns.
        IF @explain = 0
        BEGIN
            INSERT INTO #scores (customer_id, churn_probability)
            EXEC sp_execute_external_script
                @language = N'sqlml_python',
                @script = N'from sqlml.adapters.mssql import score_churn_batch
OutputDataSet, drift_state, drift, rows_read, script_error = score_churn_batch(InputDataSet, onnx_artifact, onnx_sha256, profile, drift_state)',
                @input_data_1 = @batch_query,
                @input_data_1_name = N'InputDataSet',
                @output_data_1_name = N'OutputDataSet',
                @params = N'@onnx_artifact VARBINARY(MAX), @onnx_sha256 CHAR(64), @profile NVARCHAR(MAX), @drift_state NVARCHAR(MAX) OUTPUT, @drift NVARCHAR(MAX) OUTPUT, @rows_read BIGINT OUTPUT, @script_error NVARCHAR(MAX) OUTPUT',
                @onnx_artifact = @onnx_artifact,
                @onnx_sha256 = @onnx_sha256,
                @profile = @profile,
                @drift_state = @drift_state OUTPUT,
                @drift = @drift OUTPUT,
                @rows_read = @rows_read OUTPUT,
                @script_error = @script_error OUTPUT
            WITH RESULT SETS ((customer_id NVARCHAR(64) NOT NULL, churn_probability FLOAT NOT NULL));
            EXEC ops.raise_script_error @script_error = @script_error, @error_number = 50501;
        END
        ELSE
        BEGIN
            INSERT INTO #explained (
                customer_id, churn_probability, rank, feature, feature_value, contribution
            )
            EXEC sp_execute_external_script
                @language = N'sqlml_python',
                @script = N'from sqlml.adapters.mssql import score_churn_explained_batch
OutputDataSet, drift_state, drift, rows_read, script_error = score_churn_explained_batch(InputDataSet, onnx_artifact, onnx_sha256, explain, profile, drift_state)',
                @input_data_1 = @batch_query,
                @input_data_1_name = N'InputDataSet',
                @output_data_1_name = N'OutputDataSet',
                @params = N'@onnx_artifact VARBINARY(MAX), @onnx_sha256 CHAR(64), @explain INT, @profile NVARCHAR(MAX), @drift_state NVARCHAR(MAX) OUTPUT, @drift NVARCHAR(MAX) OUTPUT, @rows_read BIGINT OUTPUT, @script_error NVARCHAR(MAX) OUTPUT',
                @onnx_artifact = @onnx_artifact,
                @onnx_sha256 = @onnx_sha256,
                @explain = @explain,
                @profile = @profile,
                @drift_state = @drift_state OUTPUT,
                @drift = @drift OUTPUT,
                @rows_read = @rows_read OUTPUT,
                @script_error = @script_error OUTPUT
            WITH RESULT SETS ((
                customer_id NVARCHAR(64) NOT NULL,
                churn_probability FLOAT NULL,
                rank INT NULL,
                feature NVARCHAR(128) NULL,
                feature_value NVARCHAR(4000) NULL,
                contribution FLOAT NULL
            ));
            EXEC ops.raise_script_error @script_error = @script_error, @error_number = 50501;
        END;
        -- Progress, one message per batch, sent at once (PRINT would wait in the
        -- output buffer); severity 0 is a message, not an error.
        SET @message = CONCAT(N'sqlml: scored batch ', @batch, N' (', @rows_read, N' rows)');
        RAISERROR (N'%s', 0, 1, @message) WITH NOWAIT;
        IF @in_range < @batch_rows OR @last IS NULL
            BREAK;
        SET @previous = @last;
    END;
    IF @explain > 0
        INSERT INTO #scores (customer_id, churn_probability)
        SELECT e.customer_id, e.churn_probability
        FROM #explained AS e
        WHERE e.rank IS NULL;

    SELECT TOP (1) @duplicate = MIN(s.customer_id)
    FROM #scores AS s
    GROUP BY s.customer_id
    HAVING COUNT(*) > 1;
    IF @duplicate IS NOT NULL
    BEGIN
        SET @message = CONCAT(
            N'sqlml: customer_id ''', @duplicate, N''' comes more than once under this ',
            N'database''s collation (',
            CAST(DATABASEPROPERTYEX(DB_NAME(), 'Collation') AS NVARCHAR(128)),
            N'), which compares ids without regard to case or trailing spaces: make them ',
            N'distinct in the input_query (docs/report-authors.md)'
        );
        THROW 50503, @message, 1;
    END;

    IF @preview = 1
    BEGIN
        SET @rows = (SELECT COUNT_BIG(*) FROM #scores);
        BEGIN TRANSACTION;
        EXEC ops.finish_run
            @run_id = @run_id, @model_id = @model_id, @rows_in = @rows, @rows_out = 0;
        COMMIT TRANSACTION;
        SELECT
            @run_id AS run_id,
            @model_id AS model_id,
            @version AS version,
            s.customer_id,
            s.churn_probability,
            (
                SELECT e.rank, e.feature, e.feature_value, e.contribution
                FROM #explained AS e
                WHERE e.customer_id = s.customer_id AND e.rank IS NOT NULL
                ORDER BY e.rank
                FOR JSON PATH, INCLUDE_NULL_VALUES
            ) AS reasons
        FROM #scores AS s
        ORDER BY s.churn_probability DESC, s.customer_id;
        RETURN;
    END;

    BEGIN TRANSACTION;
    INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)
    SELECT @run_id, @model_id, s.customer_id, s.churn_probability
    FROM #scores AS s;
    SET @rows = @@ROWCOUNT;
    INSERT INTO predictions.churn_reasons (
        run_id, customer_id, rank, feature, feature_value, contribution
    )
    SELECT @run_id, e.customer_id, e.rank, e.feature, e.feature_value, e.contribution
    FROM #explained AS e
    WHERE e.rank IS NOT NULL;
    EXEC ops.record_drift @run_id = @run_id, @model_id = @model_id, @drift = @drift;
    EXEC ops.finish_run
        @run_id = @run_id, @model_id = @model_id, @rows_in = @rows, @rows_out = @rows;
    COMMIT TRANSACTION;

    SELECT
        @run_id AS run_id,
        @model_id AS model_id,
        @version AS version,
        @rows AS rows_scored;
END;
