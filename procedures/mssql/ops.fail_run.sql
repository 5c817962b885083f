-- ops.fail_run: record the error being handled as the failure of a run. The one CATCH
-- idiom of every ml procedure that keeps a run (ml.activate_model, ml.score_churn,
-- ml.forecast, ops.train_model):
--     BEGIN CATCH
--         IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;
--         EXEC ops.fail_run @run_id = @run_id, @run_type = N'...', ...;
--         THROW;
--     END CATCH;
-- The caller rolls back first (a rollback inside this procedure would end with Msg
-- 266), so this write commits on its own; and the caller re-throws (only a THROW
-- written inside the CATCH block keeps the original error number). The message is
-- ERROR_MESSAGE() of the error being handled, read here; for a failure of the
-- embedded Python it is the sentence our code raised (@script_error, THROW 50xxx).
-- Closes the run that ops.begin_run opened, or inserts one when the procedure failed
-- before it could open it. Returns nothing.
CREATE OR ALTER PROCEDURE ops.fail_run
    @run_id BIGINT = NULL,
    @run_type NVARCHAR(64),
    @model_name NVARCHAR(128) = NULL,
    @model_id BIGINT = NULL,
    @params NVARCHAR(MAX) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @error NVARCHAR(MAX) = ISNULL(
        ERROR_MESSAGE(), N'sqlml: ops.fail_run was called outside a CATCH block'
    );
    DECLARE @known_model_id BIGINT = (
        SELECT r.model_id FROM models.registry AS r WHERE r.model_id = @model_id
    );
    UPDATE ops.runs
    SET
        status = N'failed',
        model_id = @known_model_id,
        finished_at = SYSDATETIMEOFFSET(),
        error = @error
    WHERE run_id = @run_id;
    IF @@ROWCOUNT = 0
        INSERT INTO ops.runs (
            run_type, model_name, model_id, status, params, finished_at, error
        )
        VALUES (
            @run_type, @model_name, @known_model_id, N'failed', @params,
            SYSDATETIMEOFFSET(), @error
        );
END;
