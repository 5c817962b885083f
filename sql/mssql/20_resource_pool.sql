-- 20_resource_pool: cap what sqlml's Python may take from the instance, with
-- Resource Governor: an external resource pool and a workload group that uses it.
-- Run by `sqlml deploy` on every deploy; idempotent. Returns nothing; PRINTs why it
-- changed nothing on editions or platforms without external resource pools.
--
-- Limits of pool sqlml_external (edit them here, redeploy to apply):
--   MAX_CPU_PERCENT = 80     under CPU contention, training and scoring get at most
--                            80% of the CPU, so queries keep at least a fifth
--   MAX_MEMORY_PERCENT = 50  of server memory for the Python processes; the default
--                            external pool's 20% is too little for TensorFlow on
--                            100k+ rows, and the engine keeps the other half
--   MAX_PROCESSES = 0        no cap on processes: concurrency is bounded by the
--                            callers (jobs run one at a time), not by failing calls
--
-- Which sessions land in workload group sqlml: if the instance has no classifier
-- function yet (or has sqlml's), this script installs master.dbo.sqlml_classifier.
-- The classifier runs once, at login, on the login that connects, so its rules are:
--   1. logins in server role sqlml_governed (created here; a DBA adds the logins of
--      operators and ML engineers: ALTER SERVER ROLE sqlml_governed ADD MEMBER [login]);
--   2. SQL Agent's T-SQL job steps (APP_NAME() 'SQLAgent - TSQL JobStep ...'): Agent
--      connects as its own service login and only then impersonates the job owner, so
--      adding a job owner to sqlml_governed governs none of its jobs. Rule 2 governs
--      every Agent job step; for one that runs no external script nothing changes.
--   3. every other session: group default.
-- APP_NAME() only ever adds a session to the limits: a client may name itself, but
-- no name takes a member of sqlml_governed out of them. Group sqlml uses the default
-- internal pool with default settings, so for a session that runs no external script
-- nothing changes. Where another classifier exists already, it is left alone: return
-- N'sqlml' from it for these sessions.
--
-- Resource Governor is an Enterprise feature (EngineEdition 3: Enterprise,
-- Developer, Evaluation); elsewhere this script only says so. Statements that the
-- T-SQL grammar of our linters does not know go through sp_executesql.
SET NOCOUNT ON;

DECLARE @classifier INT;

IF CAST(SERVERPROPERTY('EngineEdition') AS INT) <> 3
BEGIN
    PRINT N'sqlml: no external resource pool: Resource Governor needs Enterprise or Developer edition ('
        + CAST(SERVERPROPERTY('Edition') AS NVARCHAR(128))
        + N'); external scripts use the default external pool';
    RETURN;
END;

BEGIN TRY
    IF NOT EXISTS (
        SELECT 1 FROM sys.resource_governor_external_resource_pools AS p
        WHERE p.name = N'sqlml_external'
    )
        EXEC sys.sp_executesql
            N'CREATE EXTERNAL RESOURCE POOL sqlml_external
              WITH (MAX_CPU_PERCENT = 80, MAX_MEMORY_PERCENT = 50, MAX_PROCESSES = 0);';
    ELSE
        EXEC sys.sp_executesql
            N'ALTER EXTERNAL RESOURCE POOL sqlml_external
              WITH (MAX_CPU_PERCENT = 80, MAX_MEMORY_PERCENT = 50, MAX_PROCESSES = 0);';

    IF NOT EXISTS (
        SELECT 1 FROM sys.resource_governor_workload_groups AS g
        WHERE g.name = N'sqlml'
    )
        EXEC sys.sp_executesql
            N'CREATE WORKLOAD GROUP sqlml USING [default], EXTERNAL sqlml_external;';

    IF NOT EXISTS (
        SELECT 1 FROM sys.server_principals AS sp
        WHERE sp.name = N'sqlml_governed' AND sp.type = 'R'
    )
        EXEC sys.sp_executesql N'CREATE SERVER ROLE sqlml_governed;';

    SELECT @classifier = c.classifier_function_id
    FROM sys.resource_governor_configuration AS c;

    IF @classifier = 0 OR @classifier = OBJECT_ID(N'master.dbo.sqlml_classifier')
    BEGIN
        -- The classifier in use cannot be altered: unset it while it changes.
        EXEC master.sys.sp_executesql
            N'ALTER RESOURCE GOVERNOR WITH (CLASSIFIER_FUNCTION = NULL);';
        EXEC master.sys.sp_executesql N'ALTER RESOURCE GOVERNOR RECONFIGURE;';
        EXEC master.sys.sp_executesql
            N'CREATE OR ALTER FUNCTION dbo.sqlml_classifier()
              RETURNS SYSNAME
              WITH SCHEMABINDING
              AS
              BEGIN
                  RETURN CASE
                      WHEN IS_SRVROLEMEMBER(N''sqlml_governed'') = 1 THEN N''sqlml''
                      WHEN APP_NAME() LIKE N''SQLAgent - TSQL JobStep%'' THEN N''sqlml''
                      ELSE N''default''
                  END;
              END;';
        EXEC master.sys.sp_executesql
            N'ALTER RESOURCE GOVERNOR WITH (CLASSIFIER_FUNCTION = dbo.sqlml_classifier);';
        PRINT N'sqlml: classifier master.dbo.sqlml_classifier: members of server role '
            + N'sqlml_governed and SQL Agent job steps use workload group sqlml';
    END;
    ELSE IF @classifier <> ISNULL(OBJECT_ID(N'master.dbo.sqlml_classifier'), -1)
        PRINT N'sqlml: a Resource Governor classifier exists already; it decides which sessions '
            + N'use workload group sqlml (return N''sqlml'' for them)';

    EXEC sys.sp_executesql N'ALTER RESOURCE GOVERNOR RECONFIGURE;';
    PRINT N'sqlml: external resource pool sqlml_external: MAX_CPU_PERCENT 80, MAX_MEMORY_PERCENT 50';
END TRY
BEGIN CATCH
    -- External resource pools govern Launchpad's processes; an instance that cannot
    -- create them (for example where the platform lacks the feature) still runs
    -- sqlml, with the default external pool's limits.
    PRINT N'sqlml: no external resource pool: ' + ERROR_MESSAGE();
END CATCH;
