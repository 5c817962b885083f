-- ops.begin_run(run_type, model_name, params): record a call as 'running' in ops.runs,
-- committed at once through ops.run_log, with this session's backend pid and start
-- time; returns its run_id. First step of ops.call. Also marks runs 'abandoned'
-- whose session is gone (ops.sweep_runs), in the same round trip.
-- Executable by sqlml_operator (through ops.call): alone, it only opens a run in the
-- caller's own name, which ends failed, succeeded or abandoned like any other.
CREATE OR REPLACE FUNCTION ops.begin_run(run_type text, model_name text, params jsonb)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF begin_run.run_type IS NULL OR begin_run.run_type NOT IN (
        'train_churn_model', 'train_forecaster', 'score_churn', 'forecast', 'activate_model',
        'import_model', 'predict',
        'evaluate', 'retrain_check'
    ) THEN
        RAISE EXCEPTION 'sqlml: unknown run type %', quote_nullable(begin_run.run_type)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN ops.run_log(format(
        'SELECT ops.sweep_runs(); '
        'INSERT INTO ops.runs (run_type, model_name, params, created_by, backend_pid,'
        ' backend_start) VALUES (%L, %L, %L::jsonb, %L, %s, %L::timestamptz) RETURNING run_id',
        begin_run.run_type, left(begin_run.model_name, 128), begin_run.params, session_user,
        pg_backend_pid(),
        -- As UTC ISO text: the run log's session parses it with its own DateStyle,
        -- which need not be the caller's ('German' would swap day and month).
        (SELECT to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')
            || '+00' FROM pg_stat_activity AS a WHERE a.pid = pg_backend_pid())
    ))::bigint;
END;
$$;
REVOKE ALL ON FUNCTION ops.begin_run(text, text, jsonb) FROM public;
GRANT EXECUTE ON FUNCTION ops.begin_run(text, text, jsonb) TO sqlml_operator;
