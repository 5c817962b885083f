-- ops.use_python_runtime(): put sqlml's runtime site first on this session's sys.path.
-- Called as the first line of every PL/Python procedure; PL/Python shares one
-- interpreter per session, so once is enough and later calls are cheap.
-- The path comes from the database setting sqlml.runtime_path, which
-- `sqlml deploy` sets (ALTER DATABASE ... SET). Returns nothing.
CREATE OR REPLACE FUNCTION ops.use_python_runtime()
RETURNS void
LANGUAGE plpython3u
AS $$
import sys
path = plpy.execute("SELECT current_setting('sqlml.runtime_path', true) AS p")[0]["p"]
if not path:
    plpy.error(
        "sqlml's Python runtime is not configured for this database",
        hint="run `sqlml deploy --url ...`; it sets sqlml.runtime_path",
    )
if path not in sys.path:
    sys.path.insert(0, path)
$$;
