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
    v_stage := ops.claim_spark_stage(spark_fail.run_id);
    IF v_stage.run_id IS NULL THEN
        RETURN false;
    END IF;
    PERFORM ops.close_spark_stage(v_stage, coalesce(spark_fail.error, 'failed'));
    RETURN true;
END;
$$;
REVOKE ALL ON FUNCTION ml.spark_fail(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ml.spark_fail(bigint, text) TO sqlml_spark;
