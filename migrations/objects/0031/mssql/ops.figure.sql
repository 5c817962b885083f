-- ops.figure(@value): a metric as status_reason shows it, four decimals (N'NULL' when
-- missing), the same as ops.figure on PostgreSQL. Called by ops.register_model.
CREATE OR ALTER FUNCTION ops.figure(@value FLOAT)
RETURNS NVARCHAR(32)
AS
BEGIN
    RETURN COALESCE(CAST(CAST(@value AS DECIMAL(19, 4)) AS NVARCHAR(32)), N'NULL');
END;
