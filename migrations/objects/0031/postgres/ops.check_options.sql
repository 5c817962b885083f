-- ops.check_options(kind, spec, options): a training call's options checked by the
-- training entry point's own code (sqlml.specs.resolve_options, through
-- sqlml.entrypoints.check_options) before a row of input is read: not JSON, not an
-- object, an unknown option, a wrong type or a value outside limits.options is an
-- error naming it (SQLSTATE 22023). Imports neither pandas' data nor TensorFlow.
-- Called by ops.check_call with the owner's rights; nobody else may execute it.
-- Returns nothing.
CREATE OR REPLACE FUNCTION ops.check_options(kind text, spec jsonb, options text)
RETURNS void
LANGUAGE plpython3u
AS $$
plpy.execute("SELECT ops.use_python_runtime()")
from sqlml.adapters import postgres
postgres.check_options(plpy, kind, spec, options)
$$;
REVOKE ALL ON FUNCTION ops.check_options(text, jsonb, text) FROM public;
