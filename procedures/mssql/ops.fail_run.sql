-- ops.fail_run: record an error as the failure of a run still running. The CATCH
-- idiom of the procedures that keep a run: ops.call (the body of ml.activate_model,
-- ml.score_churn, ml.forecast and the ml.train_* procedures) and ml.spark_begin:
--     BEGIN CATCH
--         IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;
--         EXEC ops.fail_run @run_id = @run_id, @model_id = @model_id;
--         THROW;
--     END CATCH;
-- The caller rolls back first (a rollback inside this procedure would end with Msg
-- 266), so this write commits on its own; and the caller re-throws (only a THROW
-- written inside the CATCH block keeps the original error number). The message is
-- @error when given (ops.close_spark_stage), else ERROR_MESSAGE() of the error being
-- handled, read here; for a failure of the embedded Python it is the sentence our
-- code raised (@script_error, ops.raise_script_error). A NULL @run_id (ops.begin_run
-- failed, and recorded its own refusal) and a run no longer running are left alone.
-- The run keeps the model it recorded (ops.model_version) unless @model_id names one
-- (a registration the rollback undid names none).
-- Returns nothing.
CREATE OR ALTER PROCEDURE ops.fail_run
    @run_id BIGINT,
    @model_id BIGINT = NULL,
    @error NVARCHAR(MAX) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    UPDATE ops.runs
    SET
        status = N'failed',
        model_id = COALESCE(
            (SELECT r.model_id FROM models.registry AS r WHERE r.model_id = @model_id), model_id
        ),
        finished_at = SYSDATETIMEOFFSET(),
        error = COALESCE(
            @error, ERROR_MESSAGE(), N'sqlml: ops.fail_run was called outside a CATCH block'
        )
    WHERE run_id = @run_id AND status = N'running';
END;
