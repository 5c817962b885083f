-- ops.conninfo_quote(value): a libpq connection-string value, quoted and escaped.
-- Called by ops.run_log to build its dblink connection. Returns the quoted text.
CREATE OR REPLACE FUNCTION ops.conninfo_quote(value text)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $$
SELECT '''' || replace(replace($1, '\', '\\'), '''', '\''') || '''';
$$;
REVOKE ALL ON FUNCTION ops.conninfo_quote(text) FROM public;
