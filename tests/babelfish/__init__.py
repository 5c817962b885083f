"""Tests on Babelfish for PostgreSQL: the T-SQL side executed on a real T-SQL engine."""
