#!/usr/bin/env bash
# Enable external scripts, then start Launchpad: Microsoft's Linux setup for the
# extensibility framework runs sp_configure 'external scripts enabled' and then
# restarts mssql-launchpadd, because Launchpad reads the setting when it starts. So
# supervisord (supervisord.conf) starts Launchpad only through this one-shot program,
# after SQL Server answers and the setting is in use. The setting persists in master,
# so a restart of the container finds it set and only starts Launchpad.
# The sa password comes from the container's environment (MSSQL_SA_PASSWORD) and is
# handed to sqlcmd in SQLCMDPASSWORD, never on a command line.
set -uo pipefail

export SQLCMDPASSWORD="${MSSQL_SA_PASSWORD:-}"
sql() { /opt/mssql-tools18/bin/sqlcmd -C -S localhost -U sa -b -h -1 -W -Q "SET NOCOUNT ON; $1"; }

for _ in $(seq 1 120); do
  sql "SELECT 1" >/dev/null 2>&1 && break
  sleep 2
done
in_use=$(sql "SELECT CAST(value_in_use AS INT) FROM sys.configurations WHERE name = 'external scripts enabled'" 2>/dev/null | tr -d '[:space:]')
if [ "$in_use" != "1" ]; then
  sql "EXEC sp_configure 'external scripts enabled', 1; RECONFIGURE WITH OVERRIDE;" \
    || echo "sqlml: could not enable external scripts; sqlml deploy will say what to do" >&2
fi
exec /usr/bin/supervisorctl -c /opt/sqlml/supervisord.conf start launchpadd
