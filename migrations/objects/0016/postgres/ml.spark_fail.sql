-- ml.spark_fail(stage_id, error): close a Spark job's stage as a failed run.
-- Called by sqlml.spark when the job fails after ml.spark_begin (reading, scoring,
-- writing or publishing), so the failure is in ops.runs and the stage's rows are
-- gone. Only the login that opened the stage may fail it. Returns the run_id of
-- the failed run, or NULL when the stage is not open (already closed).
CREATE OR REPLACE FUNCTION ml.spark_fail(stage_id bigint, error text)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_stage ops.spark_stages;
BEGIN
    SELECT * INTO v_stage FROM ops.spark_stages AS s
    WHERE s.stage_id = spark_fail.stage_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_stage.created_by <> session_user THEN
        RAISE EXCEPTION 'sqlml: Spark stage % belongs to %, not to %',
            spark_fail.stage_id, quote_ident(v_stage.created_by), quote_ident(session_user)
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN ops.close_spark_stage(v_stage, spark_fail.error);
END;
$$;
