-- ops.claim_spark_stage(run_id): lock a Spark run's open stage for the caller that
-- began it. Called by ml.spark_publish and ml.spark_fail, in their transaction, so
-- that only the login that began a run (ml.spark_begin) may publish or fail it, and
-- a concurrent publish and fail of one run queue on the stage's row. Returns the
-- stage row, or NULL when the run has no open stage (published, failed or abandoned
-- already); refuses another login's stage.
-- Its lookup has ops.run_call's shape (the caller's own row, or a refusal) on another table.
CREATE OR REPLACE FUNCTION ops.claim_spark_stage(run_id bigint)
RETURNS ops.spark_stages
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_stage ops.spark_stages;
BEGIN
    SELECT s.* INTO v_stage FROM ops.spark_stages AS s
    WHERE s.run_id = claim_spark_stage.run_id
    FOR UPDATE;
    IF FOUND AND v_stage.created_by <> session_user THEN
        RAISE EXCEPTION 'sqlml: Spark run % belongs to %, not to %',
            claim_spark_stage.run_id, quote_ident(v_stage.created_by), quote_ident(session_user)
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN v_stage;
END;
$$;
REVOKE ALL ON FUNCTION ops.claim_spark_stage(bigint) FROM PUBLIC;
