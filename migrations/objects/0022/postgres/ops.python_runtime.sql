-- ops.python_runtime(): what Python the server embeds, and where sqlml's runtime is.
-- Called by `sqlml deploy` (to build the runtime for this Python version) and by
-- people diagnosing a deploy. Returns one JSON document; imports nothing of sqlml.
-- runtime_path: the database-level setting (ALTER DATABASE ... SET
-- sqlml.runtime_path), never the session's; ops.use_python_runtime reads it here.
CREATE OR REPLACE FUNCTION ops.python_runtime()
RETURNS jsonb
LANGUAGE plpython3u
AS $$
import json, sys
rows = plpy.execute(
    "SELECT substr(c, length('sqlml.runtime_path=') + 1) AS p"
    " FROM pg_catalog.pg_db_role_setting AS s, unnest(s.setconfig) AS c"
    " WHERE s.setrole = 0 AND c LIKE 'sqlml.runtime\\_path=%'"
    " AND s.setdatabase = (SELECT oid FROM pg_catalog.pg_database"
    " WHERE datname = current_database())")
setting = rows[0]["p"] if rows.nrows() else None
return json.dumps({
    "version": "%d.%d.%d" % sys.version_info[:3],
    "prefix": sys.prefix,
    "runtime_path": setting,
    "sys_path": sys.path,
})
$$;
REVOKE ALL ON FUNCTION ops.python_runtime() FROM public;
