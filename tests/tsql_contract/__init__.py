"""The T-SQL contract layer: the Python inside procedures/mssql, run as SQL Server runs it."""
