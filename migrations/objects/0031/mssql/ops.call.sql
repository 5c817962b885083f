-- ops.call: the body of every ml procedure that keeps a run, and the one place a
-- run's failure is handled (as ops.call on PostgreSQL). Called by ml.train_churn_model,
-- ml.train_forecaster, ml.score_churn, ml.forecast, ml.evaluate and ml.activate_model, which only
-- name their run type and pass their arguments on (those a run type does not take
-- stay NULL).
--   1. ops.begin_run records the call, with its arguments as params, as 'running':
--      outside any transaction, so the run is visible while it works and survives
--      a rollback;
--   2. the procedure of the run type does the work and returns the caller's row:
--      ops.train_model, ops.run_score_churn, ops.run_forecast, ops.run_evaluate or
--      ops.run_activate.
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
    @version INT = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @run_id BIGINT;
    DECLARE @params NVARCHAR(MAX);
    DECLARE @kind NVARCHAR(32) = CASE @run_type
        WHEN N'train_churn_model' THEN N'churn'
        WHEN N'train_forecaster' THEN N'forecaster'
    END;
    -- params: the arguments of the run type, as ops.runs keeps them.
    IF @run_type = N'activate_model'
        SET @params = (SELECT @version AS version FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
    ELSE IF @run_type = N'score_churn'
        SET @params = (
            SELECT @input_query AS input_query, @explain AS explain, @version AS version
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
                @explain = @explain, @model_version = @version;
        ELSE IF @run_type = N'forecast'
            EXEC ops.run_forecast
                @run_id = @run_id, @model_name = @model_name, @input_query = @input_query,
                @horizon = @horizon, @model_version = @version;
        ELSE IF @run_type = N'evaluate'
            EXEC ops.run_evaluate
                @run_id = @run_id, @model_name = @model_name, @input_query = @input_query,
                @version = @version;
        ELSE
            EXEC ops.train_model
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
