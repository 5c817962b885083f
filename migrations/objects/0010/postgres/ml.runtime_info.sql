-- ml.runtime_info(): the versions of Python and of each package the in-database
-- code imports, as the server sees them. Called by `sqlml deploy` to verify a
-- deploy, and by anyone checking a server. Returns one row per component.
CREATE OR REPLACE FUNCTION ml.runtime_info()
RETURNS TABLE (component text, version text)
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
return postgres.runtime_info(plpy)
$$;
REVOKE ALL ON FUNCTION ml.runtime_info() FROM public;
GRANT EXECUTE ON FUNCTION ml.runtime_info() TO sqlml_operator;
