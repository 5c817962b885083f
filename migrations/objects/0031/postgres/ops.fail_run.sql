-- ops.fail_run(run_id, state, message, detail, hint): record a run as failed, then
-- re-raise its error (the twin of SQL Server's ops.fail_run, the CATCH idiom's). Called from ops.call's exception handler, the one handler of
-- every ml routine (cancels and statement timeouts included).
-- The caller gets the message as raised, minus PL/Python's exception-class prefix.
-- ops.runs keeps it without data values: a message of sqlml's own ('sqlml: ...')
-- as is, any other with its quoted values replaced by "…" and its SQLSTATE, since a
-- server error can quote a value of the data being read (invalid input syntax for
-- type integer: "<the value>"). The failure is committed through ops.run_log, so it
-- survives the rollback of the caller's transaction.
-- Executable by sqlml_operator (through ops.call): alone, it can only fail a running
-- run of the caller's own session.
CREATE OR REPLACE FUNCTION ops.fail_run(
    run_id bigint, state text, message text, detail text, hint text
)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_message text := regexp_replace(
        coalesce(fail_run.message, ''), '^(plpy\.Error|spiexceptions\.\w+): ', ''
    );
    v_stored text;
BEGIN
    v_stored := CASE
        WHEN v_message LIKE 'sqlml: %' THEN v_message
        ELSE format('%s (SQLSTATE %s)',
            regexp_replace(v_message, '"[^"]*"|''[^'']*''', '"…"', 'g'), fail_run.state)
    END;
    BEGIN
        PERFORM ops.run_log(format(
            'UPDATE ops.runs SET status = ''failed'', finished_at = clock_timestamp(),'
            ' error = %L WHERE run_id = %s AND status = ''running'' AND backend_pid = %s'
            ' AND created_by = %L RETURNING run_id',
            v_stored, coalesce(fail_run.run_id, -1), pg_backend_pid(), session_user
        ));
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'sqlml could not record failed run % in ops.runs: %',
            fail_run.run_id, SQLERRM;
    END;
    PERFORM ops.reraise(fail_run.state, v_message, fail_run.detail, fail_run.hint);
END;
$$;
REVOKE ALL ON FUNCTION ops.fail_run(bigint, text, text, text, text) FROM public;
GRANT EXECUTE ON FUNCTION ops.fail_run(bigint, text, text, text, text) TO sqlml_operator;
