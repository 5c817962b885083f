-- 35_signing: module signing, so the ml procedures run Python while their callers cannot.
-- Run by `sqlml deploy` after 30_roles.sql, on every deploy; idempotent. Deploy also
-- re-signs each procedure right after it creates or alters it (ALTER drops a
-- signature); this script signs whatever is still unsigned, e.g. after a plain
-- `alembic upgrade`. Returns nothing; PRINTs what it signed.
--
-- sp_execute_external_script needs EXECUTE ANY EXTERNAL SCRIPT, which ownership
-- chaining does not pass on. So no role holds it: certificate sqlml_procedures signs
-- every procedure in ml and ops, and only the certificate's user, which cannot log
-- in, holds it (and EXECUTE EXTERNAL SCRIPT on the language). While a signed
-- procedure runs, the caller's rights are joined by that user's, which are nothing
-- but running external scripts: the user has no SELECT on features, models or
-- anything else, so an input_query still reads only what the caller may read, and
-- the procedures' writes stay with ownership chaining (static SQL, all owned by dbo).
--
-- The certificate's private key is protected by the database master key, created
-- here with a random password if the database has none (the service master key
-- opens it; nobody needs the password). Statements the T-SQL grammar of our
-- linters does not know go through sp_executesql.
SET NOCOUNT ON;

DECLARE @statement NVARCHAR(MAX);
DECLARE @procedure NVARCHAR(300);

IF NOT EXISTS (
    SELECT 1 FROM sys.symmetric_keys AS k WHERE k.name = N'##MS_DatabaseMasterKey##'
)
BEGIN
    SET @statement = N'CREATE MASTER KEY ENCRYPTION BY PASSWORD = '
        + QUOTENAME(CONVERT(NVARCHAR(36), NEWID()) + N'-Aa1-' + CONVERT(NVARCHAR(36), NEWID()), '''')
        + N';';
    EXEC sys.sp_executesql @statement;
    PRINT N'sqlml: created the database master key (it protects certificate sqlml_procedures)';
END;

IF NOT EXISTS (SELECT 1 FROM sys.certificates AS c WHERE c.name = N'sqlml_procedures')
BEGIN
    EXEC sys.sp_executesql
        N'CREATE CERTIFICATE sqlml_procedures
          WITH SUBJECT = N''sqlml: signs the procedures that run Python'',
          EXPIRY_DATE = ''20991231'';';
    PRINT N'sqlml: created certificate sqlml_procedures';
END;

IF DATABASE_PRINCIPAL_ID(N'sqlml_procedures_signer') IS NULL
    EXEC sys.sp_executesql
        N'CREATE USER sqlml_procedures_signer FROM CERTIFICATE sqlml_procedures;';

EXEC sys.sp_executesql N'GRANT EXECUTE ANY EXTERNAL SCRIPT TO sqlml_procedures_signer;';
IF EXISTS (SELECT 1 FROM sys.external_languages AS l WHERE l.language = N'sqlml_python')
    EXEC sys.sp_executesql
        N'GRANT EXECUTE EXTERNAL SCRIPT ON EXTERNAL LANGUAGE::sqlml_python
          TO sqlml_procedures_signer;';

SET @procedure = (
    SELECT MIN(QUOTENAME(SCHEMA_NAME(p.schema_id)) + N'.' + QUOTENAME(p.name))
    FROM sys.procedures AS p
    WHERE
        SCHEMA_NAME(p.schema_id) IN (N'ml', N'ops')
        AND NOT EXISTS (
            SELECT 1
            FROM sys.crypt_properties AS cp
            INNER JOIN sys.certificates AS c ON cp.thumbprint = c.thumbprint
            WHERE cp.major_id = p.object_id AND c.name = N'sqlml_procedures'
        )
);
WHILE @procedure IS NOT NULL
BEGIN
    SET @statement = N'ADD SIGNATURE TO ' + @procedure + N' BY CERTIFICATE sqlml_procedures;';
    EXEC sys.sp_executesql @statement;
    PRINT N'sqlml: signed ' + @procedure;
    SET @procedure = (
        SELECT MIN(QUOTENAME(SCHEMA_NAME(p.schema_id)) + N'.' + QUOTENAME(p.name))
        FROM sys.procedures AS p
        WHERE
            SCHEMA_NAME(p.schema_id) IN (N'ml', N'ops')
            AND QUOTENAME(SCHEMA_NAME(p.schema_id)) + N'.' + QUOTENAME(p.name) > @procedure
            AND NOT EXISTS (
                SELECT 1
                FROM sys.crypt_properties AS cp
                INNER JOIN sys.certificates AS c ON cp.thumbprint = c.thumbprint
                WHERE cp.major_id = p.object_id AND c.name = N'sqlml_procedures'
            )
    );
END;
