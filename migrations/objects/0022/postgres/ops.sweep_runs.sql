-- ops.sweep_runs(): mark 'abandoned' every running run whose session is gone
-- (terminated, crashed, disconnected: no live backend with its pid and start time).
-- Called by ops.begin_run on every call (through the run log's connection), by
-- ml.spark_abandon and by the pg_cron job sqlml-sweep-runs: always with the owner's
-- rights, so it is not SECURITY DEFINER itself, and nobody else may execute it.
-- Returns how many runs it marked. Needs to see every session's backend_start:
-- the owner is a superuser or a member of pg_read_all_stats.
CREATE OR REPLACE FUNCTION ops.sweep_runs()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_swept integer;
BEGIN
    UPDATE ops.runs AS r
    SET
        status = 'abandoned',
        finished_at = clock_timestamp(),
        error = 'sqlml: abandoned: the session running this call ended before it finished'
            ' (terminated, crashed or disconnected); nothing it did was kept'
    WHERE
        r.status = 'running'
        AND NOT EXISTS (
            SELECT 1 FROM pg_stat_activity AS a
            WHERE a.pid = r.backend_pid AND a.backend_start = r.backend_start
        );
    GET DIAGNOSTICS v_swept = ROW_COUNT;
    RETURN v_swept;
END;
$$;
REVOKE ALL ON FUNCTION ops.sweep_runs() FROM public;
