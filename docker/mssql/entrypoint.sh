#!/usr/bin/env bash
# Start SQL Server and its Launchpad service (which starts the external Python) in
# one container. The image's CMD; environment variables are SQL Server's own
# (ACCEPT_EULA, MSSQL_SA_PASSWORD, MSSQL_PID, MSSQL_AGENT_ENABLED), which sqlservr
# applies on its first start.
set -euo pipefail

# Launchpad lets external processes read only the folders listed here; Python 3.12
# and its packages live under /usr/local. mssql.conf sits on the data volume, so
# this runs at every start and an existing volume gets the setting too.
/opt/mssql/bin/mssql-conf set extensibility datadirectories /usr/local \
  || echo "sqlml: could not set extensibility.datadirectories; external scripts may fail" >&2

# Working folders of the extensibility framework, writable by the processes it
# starts for each script (as in Microsoft's ML Services container example).
mkdir -p /var/opt/mssql-extensibility/data /var/opt/mssql-extensibility/log
chmod -R 777 /var/opt/mssql-extensibility

exec /usr/bin/supervisord -n -c /opt/sqlml/supervisord.conf
