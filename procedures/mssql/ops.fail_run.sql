-- ops.fail_run: record a failed run with its error message.
-- Called from the CATCH block of every ml procedure after it has rolled back, so
-- this write commits on its own; SQL Agent job history and reports then find the
-- failure in ops.runs. Closes the run that ops.begin_run opened, or inserts one
-- when the procedure failed before it could open it. Returns nothing.
CREATE OR ALTER PROCEDURE ops.fail_run
    @run_id BIGINT = NULL,
    @run_type NVARCHAR(64),
    @model_name NVARCHAR(128) = NULL,
    @model_id BIGINT = NULL,
    @params NVARCHAR(MAX) = NULL,
    @error NVARCHAR(MAX)
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    BEGIN TRY
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
    END TRY
    BEGIN CATCH
        THROW;
    END CATCH;
END;
