-- ops.figure(value): a metric as status_reason shows it, four decimals ('NULL' when
-- missing), the same as ops.figure on SQL Server. Called by ops.register_model.
CREATE OR REPLACE FUNCTION ops.figure(value double precision)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT coalesce(round($1::numeric, 4)::text, 'NULL')
$$;
REVOKE ALL ON FUNCTION ops.figure(double precision) FROM public;
