-- ops.raise_script_error: raise the error that a procedure's embedded Python handed
-- back. The Python half of every procedure catches its own failures and returns the
-- sentence in @script_error (OUTPUT) instead of raising, because an exception inside
-- sp_execute_external_script reaches T-SQL as a generic error (39004) whose text is a
-- traceback in the messages, not in ERROR_MESSAGE(). Called right after
-- sp_execute_external_script by ops.run_score_churn (50501), ops.run_forecast (50602),
-- ops.run_train (50302) and ml.runtime_info (50001): e.g. an option out of its bounds or a duplicate id, a
-- parameter error naming the option or column, which then reaches ERROR_MESSAGE()
-- and, through ops.call's CATCH block, ops.runs.error. Does nothing when
-- @script_error is NULL.
CREATE OR ALTER PROCEDURE ops.raise_script_error
    @script_error NVARCHAR(MAX),
    @error_number INT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    IF @script_error IS NOT NULL
    BEGIN
        DECLARE @message NVARCHAR(2048) = LEFT(@script_error, 2047);
        THROW @error_number, @message, 1;
    END;
END;
