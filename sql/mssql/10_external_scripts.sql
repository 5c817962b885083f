-- 10_external_scripts: turn on sp_execute_external_script for the instance.
-- Run by `sqlml deploy` (before it installs the Python runtime, and again with the
-- other setup scripts); idempotent, and a no-op once the option is on.
-- Returns nothing; fails with a message saying who must do what when it cannot.
--
-- 'external scripts enabled' is an instance-wide option that needs ALTER SETTINGS
-- (sysadmin or serveradmin). On SQL Server 2019 and later RECONFIGURE applies it at
-- once; if value_in_use stays 0 the instance (and its Launchpad) needs a restart.
-- Azure SQL Database has no external scripts at all, and Azure SQL Managed Instance
-- runs only ML Services' own Python and R (no CREATE EXTERNAL LANGUAGE): both are
-- refused with that reason.
SET NOCOUNT ON;

DECLARE @engine_edition INT = CAST(SERVERPROPERTY('EngineEdition') AS INT);
DECLARE @in_use INT;
DECLARE @message NVARCHAR(2048);

IF @engine_edition = 5
    THROW 50000, N'sqlml: Azure SQL Database cannot run sp_execute_external_script; deploy sqlml to SQL Server 2019 CU3+ or 2022', 1;
IF @engine_edition = 8
    THROW 50000, N'sqlml: Azure SQL Managed Instance runs only ML Services'' Python and R, not a language extension (CREATE EXTERNAL LANGUAGE), and its Python cannot import sqlml''s pins; deploy sqlml to SQL Server 2019 CU3+ or 2022', 1;

SELECT @in_use = CAST(c.value_in_use AS INT)
FROM sys.configurations AS c
WHERE c.name = N'external scripts enabled';

IF @in_use = 1
    PRINT N'sqlml: external scripts are enabled';
ELSE
BEGIN
    BEGIN TRY
        EXEC sys.sp_configure N'external scripts enabled', 1;
        RECONFIGURE WITH OVERRIDE;
    END TRY
    BEGIN CATCH
        SET @message = N'sqlml: external scripts are disabled on ' + @@SERVERNAME
            + N' and login ' + SUSER_SNAME() + N' cannot enable them ('
            + ERROR_MESSAGE() + N'). A sysadmin runs: '
            + N'EXEC sp_configure ''external scripts enabled'', 1; RECONFIGURE WITH OVERRIDE;';
        THROW 50000, @message, 1;
    END CATCH;

    SELECT @in_use = CAST(c.value_in_use AS INT)
    FROM sys.configurations AS c
    WHERE c.name = N'external scripts enabled';
    IF @in_use = 1
        PRINT N'sqlml: external scripts enabled';
    ELSE
    BEGIN
        SET @message = N'sqlml: external scripts are configured on ' + @@SERVERNAME
            + N' but not yet in use: restart the SQL Server service (and SQL Server Launchpad), then deploy again';
        THROW 50000, @message, 1;
    END;
END;
