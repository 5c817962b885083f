-- 30_roles: the two database roles sqlml's users are added to, and what each may do.
-- Run by `sqlml deploy` after the migrations, on every deploy; idempotent.
-- Returns nothing; PRINTs what it revoked.
--
--   sqlml_analyst   SELECT on the six analyst views (predictions.churn_latest,
--                   predictions.churn_reasons_latest, predictions.forecast_latest,
--                   predictions.scores_latest, models.active_models, models.drift)
--                   and nothing
--                   else: no features, no models.registry (model blobs), no procedures.
--   sqlml_operator  EXECUTE on schema ml (train, score, forecast, activate); SELECT on
--                   features (what the default input queries read, with the caller's
--                   rights), models and predictions, and its own rows of ops.runs
--                   (a security policy, revision 0024). No INSERT, UPDATE or DELETE
--                   anywhere, no EXECUTE on ops but ops.record_job_failure (the
--                   Agent jobs' failure step), no external scripts.
--   public          nothing in ml, ops, models, predictions or features.
--
-- Who writes, then: every sqlml object is owned by dbo, so ownership chaining lets the
-- ml procedures' static INSERT/UPDATE statements write models.registry, ops.runs and
-- predictions, and the views read their tables, without a grant to the caller.
-- Running Python is the one thing chaining does not cover: 35_signing.sql signs the
-- procedures with a certificate whose user alone holds EXECUTE ANY EXTERNAL SCRIPT.
-- What chaining also does not cover runs with the caller's own rights, on purpose: an
-- input_query is dynamic SQL handed to sp_execute_external_script, so a caller reads
-- through a procedure only what it may read directly.
--
-- Add users with ALTER ROLE sqlml_operator ADD MEMBER [user]. Statements the T-SQL
-- grammar of our linters does not know go through sp_executesql.
SET NOCOUNT ON;

DECLARE @principal SYSNAME;
DECLARE @statement NVARCHAR(MAX);
DECLARE @revokes TABLE (
    schema_name SYSNAME NOT NULL,
    principal_name SYSNAME NOT NULL,
    permission_name NVARCHAR(128) NOT NULL
);

IF DATABASE_PRINCIPAL_ID(N'sqlml_analyst') IS NULL
    CREATE ROLE sqlml_analyst;
IF DATABASE_PRINCIPAL_ID(N'sqlml_operator') IS NULL
    CREATE ROLE sqlml_operator;

GRANT SELECT ON OBJECT::predictions.churn_latest TO sqlml_analyst;
GRANT SELECT ON OBJECT::predictions.churn_reasons_latest TO sqlml_analyst;
GRANT SELECT ON OBJECT::predictions.forecast_latest TO sqlml_analyst;
GRANT SELECT ON OBJECT::models.active_models TO sqlml_analyst;
GRANT SELECT ON OBJECT::models.drift TO sqlml_analyst;
GRANT SELECT ON OBJECT::predictions.scores_latest TO sqlml_analyst;
GRANT SELECT ON OBJECT::models.performance TO sqlml_analyst;

GRANT EXECUTE ON SCHEMA::ml TO sqlml_operator;
GRANT SELECT ON SCHEMA::features TO sqlml_operator;
GRANT SELECT ON SCHEMA::models TO sqlml_operator;
GRANT SELECT ON SCHEMA::predictions TO sqlml_operator;
GRANT SELECT ON OBJECT::ops.runs TO sqlml_operator;

-- What earlier releases granted and this one takes back: writes and ops for the
-- operator, and running external scripts directly (any Python, as any role).
-- A permission held WITH GRANT OPTION is revoked only WITH CASCADE (Msg 4611
-- otherwise), which also takes back what the grantee passed on; CASCADE is written
-- only then, because Babelfish, where the tests run this script, refuses it on a schema.
INSERT INTO @revokes (schema_name, principal_name, permission_name)
SELECT r.schema_name, r.principal_name, p.value
FROM (
    VALUES
    (N'models', N'sqlml_operator', N'INSERT,UPDATE,DELETE'),
    (N'ops', N'sqlml_operator', N'INSERT,UPDATE,DELETE,EXECUTE'),
    (N'predictions', N'sqlml_operator', N'INSERT,UPDATE,DELETE'),
    (N'ml', N'public', N'EXECUTE,SELECT,INSERT,UPDATE,DELETE'),
    (N'ops', N'public', N'EXECUTE,SELECT,INSERT,UPDATE,DELETE'),
    (N'models', N'public', N'SELECT,INSERT,UPDATE,DELETE'),
    (N'predictions', N'public', N'SELECT,INSERT,UPDATE,DELETE'),
    (N'features', N'public', N'SELECT,INSERT,UPDATE,DELETE')
) AS r (schema_name, principal_name, permissions)
CROSS APPLY STRING_SPLIT(r.permissions, N',') AS p;
SET @statement = (
    SELECT STRING_AGG(CAST(CONCAT(
        N'REVOKE ', r.permission_name, N' ON SCHEMA::', QUOTENAME(r.schema_name), N' FROM ',
        QUOTENAME(r.principal_name),
        CASE WHEN EXISTS (
            SELECT 1
            FROM sys.database_permissions AS p
            INNER JOIN sys.database_principals AS pr
                ON p.grantee_principal_id = pr.principal_id
            WHERE
                p.class = 3
                AND p.major_id = SCHEMA_ID(r.schema_name)
                AND pr.name = r.principal_name
                AND p.permission_name = r.permission_name
                AND p.state = 'W'
        ) THEN N' CASCADE' ELSE N'' END,
        N';'
    ) AS NVARCHAR(MAX)), N' ')
    FROM @revokes AS r
);
EXEC sys.sp_executesql @statement;

-- The one ops procedure an operator runs itself: the failure step of the SQL Agent
-- jobs it owns (40_agent_jobs.sql), which may write ops.runs only through it.
GRANT EXECUTE ON OBJECT::ops.record_job_failure TO sqlml_operator;

IF OBJECT_ID(N'sys.external_languages') IS NOT NULL
BEGIN
    SET @principal = (
        SELECT MIN(pr.name)
        FROM sys.database_permissions AS p
        INNER JOIN sys.database_principals AS pr ON p.grantee_principal_id = pr.principal_id
        WHERE
            p.permission_name IN (N'EXECUTE ANY EXTERNAL SCRIPT', N'EXECUTE EXTERNAL SCRIPT')
            AND pr.type = 'R'
            AND p.state IN ('G', 'W')
    );
    WHILE @principal IS NOT NULL
    BEGIN
        SET @statement = N'REVOKE EXECUTE ANY EXTERNAL SCRIPT FROM ' + QUOTENAME(@principal)
            + N' CASCADE;';  -- SQL Server only (Babelfish has no external scripts)
        IF EXISTS (SELECT 1 FROM sys.external_languages AS l WHERE l.language = N'sqlml_python')
            SET @statement = @statement + N' REVOKE EXECUTE EXTERNAL SCRIPT ON EXTERNAL LANGUAGE::'
                + N'sqlml_python FROM ' + QUOTENAME(@principal) + N' CASCADE;';
        EXEC sys.sp_executesql @statement;
        PRINT N'sqlml: revoked external scripts from role ' + QUOTENAME(@principal)
            + N': only the signed procedures run Python (35_signing.sql)';
        SET @principal = (
            SELECT MIN(pr.name)
            FROM sys.database_permissions AS p
            INNER JOIN sys.database_principals AS pr
                ON p.grantee_principal_id = pr.principal_id
            WHERE
                p.permission_name IN (N'EXECUTE ANY EXTERNAL SCRIPT', N'EXECUTE EXTERNAL SCRIPT')
                AND pr.type = 'R'
                AND p.state IN ('G', 'W')
                AND pr.name > @principal
        );
    END;
END;
