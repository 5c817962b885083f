-- ops.close_spark_stage(run_id, error, status): drop a Spark run's stage and, when
-- error is given, end the run with it and status ('failed', or 'abandoned' for
-- ml.spark_abandon) if it is still running. Called by
-- ml.spark_publish (no error: the run was just finished), ml.spark_fail and
-- ml.spark_abandon, in their transaction, after they have locked the stage's row.
-- Returns nothing.
CREATE OR REPLACE FUNCTION ops.close_spark_stage(
    run_id bigint, error text, status text DEFAULT 'failed'
)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_stage ops.spark_stages;
BEGIN
    DELETE FROM ops.spark_stages AS s WHERE s.run_id = close_spark_stage.run_id
    RETURNING s.* INTO v_stage;
    IF close_spark_stage.error IS NOT NULL THEN
        UPDATE ops.runs AS r
        SET
            status = close_spark_stage.status,
            model_id = v_stage.model_id,
            finished_at = clock_timestamp(),
            error = close_spark_stage.error
        WHERE r.run_id = close_spark_stage.run_id AND r.status = 'running';
    END IF;
    EXECUTE format(
        'DROP TABLE IF EXISTS staging.%I',
        CASE v_stage.kind WHEN 'churn' THEN 'churn_scores_' ELSE 'forecasts_' END
            || close_spark_stage.run_id
    );
END;
$$;
REVOKE ALL ON FUNCTION ops.close_spark_stage(bigint, text, text) FROM PUBLIC;
