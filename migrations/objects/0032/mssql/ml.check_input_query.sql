-- ml.check_input_query: sqlml spark's check of its input query before Spark's JDBC
-- source embeds it in "SELECT ... FROM (<query>) AS sqlml_input ..." (issue 22):
-- exactly one query, by SQL Server's parser (ops.check_input_query, the check
-- ops.run_score_churn makes of its own batches; THROW 50014 naming input_query).
-- Nothing of the query runs. Executable by sqlml_spark (sql/mssql/35_spark.sql).
-- Returns one row: checked (1).
CREATE OR ALTER PROCEDURE ml.check_input_query
    @input_query NVARCHAR(MAX)
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    EXEC ops.check_input_query @input_query = @input_query;
    SELECT CAST(1 AS BIT) AS checked;
END;
