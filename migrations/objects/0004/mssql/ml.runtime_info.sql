-- ml.runtime_info: the versions of Python and of each package the in-database
-- code imports, as SQL Server's Python runtime sees them. Called by
-- `sqlml deploy` to verify a deploy, and by anyone checking a server.
-- Returns one row per component.
CREATE OR ALTER PROCEDURE ml.runtime_info
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    BEGIN TRY
        EXEC sp_execute_external_script
            @language = N'sqlml_python',
            @script = N'from sqlml.adapters.mssql import runtime_info
OutputDataSet = runtime_info()'
        WITH RESULT SETS ((component NVARCHAR(64) NOT NULL, version NVARCHAR(256) NULL));
    END TRY
    BEGIN CATCH
        THROW;
    END CATCH;
END;
