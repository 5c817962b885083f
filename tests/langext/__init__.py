"""Tests that run each T-SQL procedure's Python through SQL Server's own language extension."""
