-- ops.check_input_types: refuse an input_query whose columns SQL Server's Python
-- language extension cannot take (DECIMAL, NUMERIC, MONEY, SMALLMONEY, TIME,
-- DATETIMEOFFSET, UNIQUEIDENTIFIER, XML, ...), before any external script runs. The
-- extension itself fails the call in InitColumn, before the script, with SQL Server's
-- generic external-script error, which names neither the column nor the fix; this
-- names both: THROW 50011 with the column and the CAST to write (ops.input_column_cast),
-- which the caller's ops.call CATCH block records as the run's error (status failed).
-- sqlml does not rewrite the caller's query itself: wrapping it in a derived table
-- breaks a CTE or an ORDER BY, and the caller's text is what runs with the caller's rights.
-- Called by every ops.run_* procedure that hands sp_execute_external_script an
-- @input_data_1 (tests/test_mssql_input_types.py lists them), with that query. A query the describe function cannot
-- describe (temporary tables, dynamic SQL) passes: the extension is then the last word.
-- Returns nothing.
CREATE OR ALTER PROCEDURE ops.check_input_types
    @input_query NVARCHAR(MAX)
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @refused NVARCHAR(MAX);
    DECLARE @message NVARCHAR(2048);
    -- Every SQL Server since 2012 has it; Babelfish (the tests' T-SQL engine) has not,
    -- and runs no external script either, so there is nothing to guard there.
    IF OBJECT_ID(N'sys.dm_exec_describe_first_result_set') IS NULL RETURN;
    WITH described AS (
        SELECT
            d.column_ordinal,
            d.name,
            d.system_type_name,
            ops.input_column_cast(d.name, d.system_type_name) AS cast_to
        FROM sys.dm_exec_describe_first_result_set(@input_query, NULL, 0) AS d
        WHERE d.is_hidden = 0
    )

    SELECT
        @refused = STRING_AGG(
            CONCAT(
                QUOTENAME(described.name), N' (', described.system_type_name,
                N'): select ', described.cast_to
            ),
            N'; '
        ) WITHIN GROUP (ORDER BY described.column_ordinal)
    FROM described
    WHERE described.cast_to IS NOT NULL;
    IF @refused IS NOT NULL
    BEGIN
        SET @message = LEFT(CONCAT(
            N'sqlml: input_query has columns SQL Server''s Python language extension ',
            N'cannot take: ', @refused, N'. Write these CASTs in the input_query'
        ), 2047);
        THROW 50011, @message, 1;
    END;
END;
