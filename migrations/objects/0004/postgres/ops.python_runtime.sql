-- ops.python_runtime(): what Python the server embeds, and where sqlml's runtime is.
-- Called by `sqlml deploy` (to build the runtime for this Python version) and by
-- people diagnosing a deploy. Returns one JSON document; imports nothing of sqlml.
CREATE OR REPLACE FUNCTION ops.python_runtime()
RETURNS jsonb
LANGUAGE plpython3u
AS $$
import json, sys
setting = plpy.execute("SELECT current_setting('sqlml.runtime_path', true) AS p")[0]["p"]
return json.dumps({
    "version": "%d.%d.%d" % sys.version_info[:3],
    "prefix": sys.prefix,
    "runtime_path": setting,
    "sys_path": sys.path,
})
$$;
