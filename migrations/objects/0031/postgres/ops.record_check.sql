-- ops.record_check(run_id, model_id, outcome): close a retraining check's run as
-- succeeded, with its decision and figures as the run's outcome. Called last by
-- ops.retrain_check, which runs with the caller's rights; this half writes ops.runs
-- with the owner's (SECURITY DEFINER, pinned search_path).
-- Executable by sqlml_operator: alone, it can only close a 'retrain_check' run that
-- is running in the caller's own session.
CREATE OR REPLACE FUNCTION ops.record_check(run_id bigint, model_id bigint, outcome jsonb)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE ops.runs AS r
    SET status = 'succeeded', model_id = record_check.model_id, rows_in = NULL,
        rows_out = CASE WHEN record_check.outcome ->> 'decision' = 'retrain' THEN 1 ELSE 0 END,
        outcome = record_check.outcome, finished_at = clock_timestamp()
    WHERE
        r.run_id = record_check.run_id
        AND r.run_type = 'retrain_check'
        AND r.status = 'running'
        AND r.created_by = session_user
        AND r.backend_pid = pg_backend_pid();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sqlml: run % is not a retraining check in progress in this session',
            quote_nullable(record_check.run_id)
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END;
$$;
REVOKE ALL ON FUNCTION ops.record_check(bigint, bigint, jsonb) FROM public;
GRANT EXECUTE ON FUNCTION ops.record_check(bigint, bigint, jsonb) TO sqlml_operator;
