-- ml.runtime_info: the versions of Python and of each package the in-database
-- code imports, as SQL Server's Python runtime sees them. Called by
-- `sqlml deploy` to verify a deploy, and by anyone checking a server.
-- Returns one row per component.
CREATE OR ALTER PROCEDURE ml.runtime_info
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @script_error NVARCHAR(MAX);
    EXEC sp_execute_external_script
        @language = N'sqlml_python',
        @script = N'from sqlml.adapters.mssql import runtime_info
OutputDataSet, script_error = runtime_info()',
        @params = N'@script_error NVARCHAR(MAX) OUTPUT',
        @script_error = @script_error OUTPUT
    WITH RESULT SETS ((component NVARCHAR(64) NOT NULL, version NVARCHAR(256) NULL));
    EXEC ops.raise_script_error @script_error = @script_error, @error_number = 50001;
END;
