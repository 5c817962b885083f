-- ops.input_column_cast: what an input_query must select instead of a column whose
-- type SQL Server's Python language extension refuses (it fails the whole call before
-- the script runs, with the generic external-script error, naming no column). Called by
-- ops.check_input_types for each column sys.dm_exec_describe_first_result_set reports.
-- Returns the CAST to write (e.g. CAST([monthly_charges] AS FLOAT) AS [monthly_charges]),
-- or NULL for a type the extension takes. The CAST loses nothing the models read:
-- DECIMAL, NUMERIC and MONEY become FLOAT (15 significant digits, more than any
-- feature or label needs), TIME a DATETIME2 on 1900-01-01, DATETIMEOFFSET its UTC
-- DATETIME2, UNIQUEIDENTIFIER and XML their text, CLR types their ToString().
CREATE OR ALTER FUNCTION ops.input_column_cast(
    @column_name NVARCHAR(128),
    @system_type_name NVARCHAR(256)
)
RETURNS NVARCHAR(512)
AS
BEGIN
    DECLARE @type NVARCHAR(256) = LOWER(LTRIM(RTRIM(@system_type_name)));
    DECLARE @base NVARCHAR(256) = CASE
        WHEN CHARINDEX(N'(', @type) > 0 THEN LEFT(@type, CHARINDEX(N'(', @type) - 1)
        ELSE @type
    END;
    DECLARE @quoted NVARCHAR(260) = QUOTENAME(@column_name);
    DECLARE @expression NVARCHAR(512) = CASE
        WHEN @base IN (N'decimal', N'numeric', N'money', N'smallmoney')
            THEN CONCAT(N'CAST(', @quoted, N' AS FLOAT)')
        WHEN @base = N'time'
            THEN CONCAT(N'CAST(', @quoted, N' AS DATETIME2)')
        WHEN @base = N'datetimeoffset'
            THEN CONCAT(N'CAST(SWITCHOFFSET(', @quoted, N', ''+00:00'') AS DATETIME2)')
        WHEN @base = N'uniqueidentifier'
            THEN CONCAT(N'CAST(', @quoted, N' AS NVARCHAR(36))')
        WHEN @base IN (N'xml', N'sql_variant', N'ntext', N'text')
            THEN CONCAT(N'CAST(', @quoted, N' AS NVARCHAR(MAX))')
        WHEN @base = N'image'
            THEN CONCAT(N'CAST(', @quoted, N' AS VARBINARY(MAX))')
        WHEN @base IN (N'hierarchyid', N'geography', N'geometry')
            THEN CONCAT(@quoted, N'.ToString()')
    END;
    RETURN CASE
        WHEN @expression IS NULL THEN NULL
        ELSE CONCAT(@expression, N' AS ', @quoted)
    END;
END;
