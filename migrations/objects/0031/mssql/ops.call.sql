-- ops.call: the body of every ml procedure that keeps a run, and the one place a
-- run's failure is handled (as ops.call on PostgreSQL). Called by ml.train_churn_model,
-- ml.train_forecaster, ml.score_churn (and ml.score_churn_preview, @preview = 1),
-- ml.forecast, ml.evaluate, ml.activate_model, ml.import_model and ml.predict, which only
-- name their run type and pass their arguments on (those a run type does not take
-- stay NULL).
--   1. ops.begin_run records the call, with its arguments as params, as 'running':
--      outside any transaction, so the run is visible while it works and survives
--      a rollback;
--   2. the procedure of the run type does the work and returns the caller's row:
--      ops.run_train, ops.run_score_churn, ops.run_forecast, ops.run_activate,
--      ops.run_evaluate, ops.run_import or ops.run_predict_model.
-- On any error the CATCH block rolls back, records the run as failed (ops.fail_run)
-- and re-throws the error, number and message unchanged. The input query runs in
-- the embedded Python's call with the caller's rights, as before.
CREATE OR ALTER PROCEDURE ops.call
    @run_type NVARCHAR(64),
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX) = NULL,
    @options NVARCHAR(MAX) = NULL,
    @activate BIT = NULL,
    @horizon INT = NULL,
    @explain INT = NULL,
    @version INT = NULL,
    @preview BIT = 0,
    @model VARBINARY(MAX) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @run_id BIGINT;
    DECLARE @params NVARCHAR(MAX);
    DECLARE @message NVARCHAR(2048);
    DECLARE @probe TABLE (x INT);
    DECLARE @kind NVARCHAR(32) = CASE @run_type
        WHEN N'train_churn_model' THEN N'churn'
        WHEN N'train_forecaster' THEN N'forecaster'
    END;
    -- params: the arguments of the run type, as ops.runs keeps them.
    IF @run_type = N'activate_model'
        SET @params = (SELECT @version AS version FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
    ELSE IF @run_type = N'score_churn'
        SET @params = (
            SELECT
                @input_query AS input_query,
                @explain AS explain,
                @version AS version,
                CASE WHEN @preview = 1 THEN CAST(1 AS BIT) END AS preview
            FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
        );
    ELSE IF @run_type = N'predict'
        SET @params = (
            SELECT @input_query AS input_query
            FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES
        );
    -- The blob stays out of ops.runs: its size and sha256 stand for it.
    ELSE IF @run_type = N'import_model'
        SET @params = (
            SELECT
                @options AS options,
                @activate AS activate,
                DATALENGTH(@model) AS model_bytes,
                LOWER(CONVERT(NVARCHAR(64), HASHBYTES('SHA2_256', @model), 2)) AS model_sha256
            FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES
        );
    ELSE IF @run_type = N'forecast'
        SET @params = (
            SELECT @horizon AS horizon, @input_query AS input_query, @version AS version
            FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES
        );
    ELSE IF @run_type = N'evaluate'
        SET @params = (
            SELECT @input_query AS input_query, @version AS version
            FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES
        );
    ELSE
        SET @params = (
            SELECT @input_query AS input_query, @options AS options, @activate AS activate
            FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES
        );
    -- A caller's INSERT ... EXEC ml.<routine>: SQL Server nests no INSERT ... EXEC
    -- (Msg 8164, which the work's own INSERT ... EXEC of the script would raise) and
    -- forbids the CATCH block's ROLLBACK inside one (Msg 3915, which would hide the real
    -- error and take the run's row with it). A probe of the same shape finds out first,
    -- before any run is opened, and says so in a sentence (docs/report-authors.md).
    BEGIN TRY
        INSERT INTO @probe (x) EXEC ('SELECT 1 AS x');
    END TRY
    BEGIN CATCH
        IF ERROR_NUMBER() <> 8164 THROW;
        SET @message = CONCAT(
            N'sqlml: ml.', @run_type, N' cannot run inside INSERT ... EXEC (SQL Server ',
            N'nests no INSERT ... EXEC, and a failed run could not roll back): call it ',
            N'with EXEC on its own and read its row from ops.runs or the ',
            N'predictions views'
        );
        THROW 50012, @message, 1;
    END CATCH;
    BEGIN TRY
        EXEC ops.begin_run
            @run_type = @run_type,
            @model_name = @model_name,
            @params = @params,
            @run_id = @run_id OUTPUT;
        IF @run_type = N'activate_model'
            EXEC ops.run_activate @run_id = @run_id, @model_name = @model_name, @version = @version;
        ELSE IF @run_type = N'score_churn'
            EXEC ops.run_score_churn
                @run_id = @run_id, @model_name = @model_name, @input_query = @input_query,
                @explain = @explain, @preview = @preview, @model_version = @version;
        ELSE IF @run_type = N'predict'
            EXEC ops.run_predict_model
                @run_id = @run_id, @model_name = @model_name, @input_query = @input_query;
        ELSE IF @run_type = N'import_model'
            EXEC ops.run_import
                @run_id = @run_id, @model_name = @model_name, @model = @model,
                @options = @options, @activate = @activate;
        ELSE IF @run_type = N'forecast'
            EXEC ops.run_forecast
                @run_id = @run_id, @model_name = @model_name, @input_query = @input_query,
                @horizon = @horizon, @model_version = @version;
        ELSE IF @run_type = N'evaluate'
            EXEC ops.run_evaluate
                @run_id = @run_id, @model_name = @model_name, @input_query = @input_query,
                @version = @version;
        ELSE
            EXEC ops.run_train
                @run_id = @run_id, @kind = @kind, @model_name = @model_name,
                @input_query = @input_query, @options = @options, @activate = @activate;
    END TRY
    -- The one CATCH block of the runs (ml.spark_begin, whose run outlives the call,
    -- has its own): T-SQL re-throws an error unchanged only from its CATCH block.
    BEGIN CATCH
        IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;
        EXEC ops.fail_run @run_id = @run_id;
        THROW;
    END CATCH;
END;
