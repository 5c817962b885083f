-- ops.begin_run: open a row in ops.runs (status running) and return its run_id.
-- Called first by every ml procedure, outside its transaction, so the run is
-- visible while it works and survives its rollback (ops.fail_run then closes it).
-- Returns @run_id (OUTPUT).
CREATE OR ALTER PROCEDURE ops.begin_run
    @run_type NVARCHAR(64),
    @model_name NVARCHAR(128),
    @params NVARCHAR(MAX),
    @run_id BIGINT OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    BEGIN TRY
        INSERT INTO ops.runs (run_type, model_name, params)
        VALUES (@run_type, @model_name, @params);
        SET @run_id = SCOPE_IDENTITY();
    END TRY
    BEGIN CATCH
        THROW;
    END CATCH;
END;
