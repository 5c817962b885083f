-- ops.fail_run(run_id, run_type, model_name, model_id, params, error): record a failed
-- run so that it survives the rollback of the caller's transaction.
-- Called from the EXCEPTION handler of every ml procedure, before it re-raises.
-- PostgreSQL has no autonomous transactions, so the row is written through dblink
-- on a second session of the same database, as the function's owner. Where that
-- connection is impossible (password-only authentication) it warns instead of
-- hiding the original error. Returns nothing.
CREATE OR REPLACE FUNCTION ops.fail_run(
    run_id bigint,
    run_type text,
    model_name text,
    model_id bigint,
    params jsonb,
    error text
)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_socket text := split_part(current_setting('unix_socket_directories'), ',', 1);
    v_conninfo text;
    v_insert text;
BEGIN
    v_conninfo := format(
        'dbname=%s user=%s port=%s host=%s application_name=sqlml_fail_run',
        ops.conninfo_quote(current_database()),
        ops.conninfo_quote(current_user),
        current_setting('port'),
        ops.conninfo_quote(coalesce(nullif(v_socket, ''), 'localhost'))
    );
    v_insert := format(
        'INSERT INTO ops.runs (run_id, run_type, model_name, model_id, status, params,'
        ' started_at, finished_at, error, created_by) VALUES (%s, %L, %L,'
        ' (SELECT r.model_id FROM models.registry AS r WHERE r.model_id = %L::bigint),'
        ' %L, %L::jsonb, %L::timestamptz, clock_timestamp(), %L, %L)',
        coalesce(run_id::text, 'DEFAULT'), run_type, model_name, model_id,
        'failed', params, now(), error, session_user
    );
    PERFORM public.dblink_exec(v_conninfo, v_insert);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'sqlml could not record failed run % in ops.runs: %', run_id, SQLERRM;
END;
$$;
