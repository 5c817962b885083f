-- sqlml_native 1.0: the objects of payloads.c, in schema ops (the control file's).
-- Created by CREATE EXTENSION sqlml_native (a superuser; `sqlml deploy` runs it where
-- the extension is installed). Read by the scoring reader (sqlml.adapters.postgres:
-- ops.column_payloads, through the caller's half, ops.stage_input) and the write of a
-- scoring batch (ops.payload_texts, ops.payload_float8s, the owner's half only).
-- EXECUTE is revoked from PUBLIC here; `sqlml deploy` grants the aggregate to
-- sqlml_operator (a role this script cannot assume exists).
\echo Use "CREATE EXTENSION sqlml_native" to load this file. \quit

CREATE FUNCTION @extschema@.column_payloads_step(internal, VARIADIC "any") RETURNS internal
AS 'MODULE_PATHNAME', 'sqlml_column_payloads_step' LANGUAGE C;

CREATE FUNCTION @extschema@.column_payloads_final(internal) RETURNS bytea
AS 'MODULE_PATHNAME', 'sqlml_column_payloads_final' LANGUAGE C STRICT;

CREATE AGGREGATE @extschema@.column_payloads(VARIADIC "any") (
    SFUNC = @extschema@.column_payloads_step,
    STYPE = internal,
    FINALFUNC = @extschema@.column_payloads_final
);

COMMENT ON AGGREGATE @extschema@.column_payloads(VARIADIC "any") IS
'sqlml: a query''s rows as one payload per column, for the scoring reader (procedures/postgres/native/payloads.c)';

CREATE FUNCTION @extschema@.payload_texts(text) RETURNS SETOF text
AS 'MODULE_PATHNAME', 'sqlml_payload_texts' LANGUAGE C STRICT IMMUTABLE;

CREATE FUNCTION @extschema@.payload_float8s(bytea) RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'sqlml_payload_float8s' LANGUAGE C STRICT IMMUTABLE;

-- Scoring's batches: the next rows of the caller's cursor, read as the caller.
CREATE FUNCTION @extschema@.cursor_payloads(text, bigint) RETURNS bytea
AS 'MODULE_PATHNAME', 'sqlml_cursor_payloads' LANGUAGE C STRICT VOLATILE;

REVOKE ALL ON FUNCTION @extschema@.cursor_payloads(text, bigint) FROM public;
REVOKE ALL ON FUNCTION @extschema@.payload_texts(text) FROM public;
REVOKE ALL ON FUNCTION @extschema@.payload_float8s(bytea) FROM public;
REVOKE ALL ON FUNCTION @extschema@.column_payloads_step(internal, VARIADIC "any") FROM public;
REVOKE ALL ON FUNCTION @extschema@.column_payloads_final(internal) FROM public;
REVOKE ALL ON FUNCTION @extschema@.column_payloads(VARIADIC "any") FROM public;
