-- 30_roles: the two database roles sqlml's users are added to, and what each may do.
-- Run by `sqlml deploy` after the migrations, on every deploy; idempotent.
-- Returns nothing.
--
--   sqlml_analyst   SELECT on the three analyst views (predictions.churn_latest,
--                   predictions.forecast_latest, models.active_models) and nothing
--                   else: no features, no models.registry (model blobs), no procedures.
--   sqlml_operator  EXECUTE on schema ml (train, score, forecast, activate), SELECT on
--                   schema features, and the right to run external scripts.
--
-- Why this is enough: every sqlml object is owned by dbo, so ownership chaining
-- lets the views read their tables and the ml procedures write registry, runs and
-- predictions without any grant on those tables. What chaining does not cover is
-- run with the caller's own rights, on purpose: an input_query (dynamic SQL handed
-- to sp_execute_external_script, hence SELECT on features for the default query)
-- and the external script itself (EXECUTE ANY EXTERNAL SCRIPT, and EXECUTE EXTERNAL
-- SCRIPT on the sqlml_python language where the Python language extension is used).
-- Neither is ever granted to public; this script warns if a DBA did.
--
-- Add users with ALTER ROLE sqlml_analyst ADD MEMBER [user]. Statements the T-SQL
-- grammar of our linters does not know go through sp_executesql.
SET NOCOUNT ON;

IF DATABASE_PRINCIPAL_ID(N'sqlml_analyst') IS NULL
    CREATE ROLE sqlml_analyst;
IF DATABASE_PRINCIPAL_ID(N'sqlml_operator') IS NULL
    CREATE ROLE sqlml_operator;

GRANT SELECT ON OBJECT::predictions.churn_latest TO sqlml_analyst;
GRANT SELECT ON OBJECT::predictions.forecast_latest TO sqlml_analyst;
GRANT SELECT ON OBJECT::models.active_models TO sqlml_analyst;
GRANT SELECT ON OBJECT::models.drift TO sqlml_analyst;

GRANT EXECUTE ON SCHEMA::ml TO sqlml_operator;
GRANT SELECT ON SCHEMA::features TO sqlml_operator;
GRANT EXECUTE ANY EXTERNAL SCRIPT TO sqlml_operator;

IF EXISTS (SELECT 1 FROM sys.external_languages AS l WHERE l.language = N'sqlml_python')
    EXEC sys.sp_executesql
        N'GRANT EXECUTE EXTERNAL SCRIPT ON EXTERNAL LANGUAGE::sqlml_python TO sqlml_operator;';

IF EXISTS (
    SELECT 1
    FROM sys.database_permissions AS p
    WHERE
        p.grantee_principal_id = DATABASE_PRINCIPAL_ID(N'public')
        AND p.permission_name = N'EXECUTE ANY EXTERNAL SCRIPT'
        AND p.state IN ('G', 'W')
)
    PRINT N'sqlml: warning: public holds EXECUTE ANY EXTERNAL SCRIPT in database '
        + QUOTENAME(DB_NAME()) + N', so every user can run Python here; sqlml needs only '
        + N'sqlml_operator to hold it: REVOKE EXECUTE ANY EXTERNAL SCRIPT FROM public;';
