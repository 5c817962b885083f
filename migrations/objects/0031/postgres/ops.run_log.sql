-- ops.run_log(statement): run one statement on ops.runs in its own transaction,
-- committed whatever happens to the caller's; returns the statement's one text value
-- (a run_id). PostgreSQL has no autonomous transactions, so the statement goes
-- through dblink to a second session of this database, as the owner.
-- The connection is named (sqlml_run_log) and kept for the session: one round trip
-- per call, not a new connection. Called by ops.begin_run and ops.fail_run only,
-- with the owner's rights (they are SECURITY DEFINER, so this need not be); nobody
-- else may execute it (nor dblink: its functions are revoked from PUBLIC, so no
-- caller can borrow the owner's connection).
CREATE OR REPLACE FUNCTION ops.run_log(statement text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_socket text := split_part(current_setting('unix_socket_directories'), ',', 1);
    v_conninfo text;
    v_result text;
BEGIN
    v_conninfo := format(
        'dbname=%s user=%s port=%s host=%s application_name=sqlml_run_log',
        ops.conninfo_quote(current_database()),
        ops.conninfo_quote(current_user),
        current_setting('port'),
        ops.conninfo_quote(coalesce(nullif(v_socket, ''), 'localhost'))
    );
    IF NOT 'sqlml_run_log' = ANY (coalesce(public.dblink_get_connections(), '{}')) THEN
        PERFORM public.dblink_connect('sqlml_run_log', v_conninfo);
    END IF;
    BEGIN
        SELECT t.v INTO v_result FROM public.dblink('sqlml_run_log', statement) AS t (v text);
    EXCEPTION WHEN connection_exception OR sqlclient_unable_to_establish_sqlconnection THEN
        -- The second session went away (terminated, server restart): reconnect once.
        PERFORM public.dblink_disconnect('sqlml_run_log');
        PERFORM public.dblink_connect('sqlml_run_log', v_conninfo);
        SELECT t.v INTO v_result FROM public.dblink('sqlml_run_log', statement) AS t (v text);
    END;
    RETURN v_result;
END;
$$;
REVOKE ALL ON FUNCTION ops.run_log(text) FROM public;
