-- ops.check_input_query: refuse an input query that is not exactly one query, by the
-- engine's own parser, before anything embeds it in a statement of its own (issue 22).
-- ops.run_score_churn runs the caller's query inside
-- "SELECT ... FROM (<query>) AS q ..." for each batch, and Spark's JDBC source
-- (sqlml spark) inside "SELECT ... FROM (<query>) AS sqlml_input ...": a query such
-- as "SELECT 1 AS id) AS a; <statement>; SELECT * FROM (SELECT 1 AS id" would
-- close the wrapper's parenthesis and run <statement> in the procedure's context.
-- Two parses, nothing run: the query alone must parse (so its parentheses, quotes
-- and comments close inside it), and the query as the derived table the readers
-- make of it, where only one query can stand (a second statement, or one that is
-- not a query, is a syntax error there). Both texts are described, never executed:
-- on SQL Server by sys.dm_exec_describe_first_result_set, whose rows report a
-- syntax error as error_type 2 (SYNTAX); a query it cannot otherwise describe
-- (a temporary table, dynamic SQL) passes this check, which is about statements.
-- Babelfish (the tests' T-SQL engine) has no such function: there
-- sp_describe_first_result_set raises the parser's own error, which no CATCH of
-- Babelfish catches (gap 5), and sends its descriptions to the caller.
-- THROW 50014 naming input_query. Called by ops.run_score_churn and by
-- ml.check_input_query (sqlml spark's check). Returns nothing.
CREATE OR ALTER PROCEDURE ops.check_input_query
    @input_query NVARCHAR(MAX)
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    -- The wrapper's shape: each reader embeds the query between these two lines, so
    -- that a trailing line comment ends before the wrapper's parenthesis.
    DECLARE @wrapped NVARCHAR(MAX) = CONCAT(
        N'SELECT * FROM (', NCHAR(10), @input_query, NCHAR(10), N') AS sqlml_input'
    );
    DECLARE @syntax NVARCHAR(4000);
    DECLARE @message NVARCHAR(2048);
    IF @input_query IS NULL OR LTRIM(RTRIM(@input_query)) = N''
        THROW 50014, N'sqlml: input_query is empty', 1;
    IF OBJECT_ID(N'sys.dm_exec_describe_first_result_set') IS NOT NULL
    BEGIN
        SELECT TOP (1) @syntax = d.error_message
        FROM sys.dm_exec_describe_first_result_set(@input_query, NULL, 0) AS d
        WHERE d.error_type = 2;
        IF @syntax IS NOT NULL
        BEGIN
            SET @message = LEFT(CONCAT(N'sqlml: input_query is not valid T-SQL: ', @syntax), 2047);
            THROW 50014, @message, 1;
        END;
        SELECT TOP (1) @syntax = d.error_message
        FROM sys.dm_exec_describe_first_result_set(@wrapped, NULL, 0) AS d
        WHERE d.error_type = 2;
        IF @syntax IS NOT NULL
            THROW 50014, N'sqlml: input_query must be exactly one query (one SELECT statement): SQL Server reads it as more than one statement, or as a statement that returns no query''s rows (a WITH ... common table expression cannot stand in a derived table: write it as a subquery)', 1;
        RETURN;
    END;
    -- Babelfish: its sp_describe_first_result_set raises the parser's error itself
    -- (its table function misreads variables inside a procedure, and INSERT ... EXEC
    -- of the procedure fails), so each description goes to the caller as a result
    -- set: a test engine's cost, never SQL Server's, which takes the branch above.
    EXEC sp_describe_first_result_set @tsql = @input_query;
    EXEC sp_describe_first_result_set @tsql = @wrapped;
END;
