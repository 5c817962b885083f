-- ml.spark_fail(run_id, error): fail a Spark job's run and drop its stage. Called by
-- sqlml.spark when the job fails after ml.spark_begin (reading, scoring, writing or
-- publishing), so the failure is in ops.runs and the staged rows are gone. Only the
-- login that began the run may fail it. Returns true when it closed an open stage,
-- false when there was none (closed already).
CREATE OR REPLACE FUNCTION ml.spark_fail(run_id bigint, error text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_stage ops.spark_stages;
BEGIN
    SELECT s.* INTO v_stage FROM ops.spark_stages AS s
    WHERE s.run_id = spark_fail.run_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF v_stage.created_by <> session_user THEN
        RAISE EXCEPTION 'sqlml: Spark run % belongs to %, not to %',
            spark_fail.run_id, quote_ident(v_stage.created_by), quote_ident(session_user)
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM ops.close_spark_stage(v_stage.run_id, coalesce(spark_fail.error, 'failed'));
    RETURN true;
END;
$$;
REVOKE ALL ON FUNCTION ml.spark_fail(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ml.spark_fail(bigint, text) TO sqlml_spark;
