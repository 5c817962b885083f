-- ops.close_spark_stage(stage, error, status): drop a Spark run's stage (the row its
-- caller has locked) and, when error is given, end the run with it and status
-- ('failed', or 'abandoned' for ml.spark_abandon) if it is still running. Called by
-- ml.spark_publish (no error: the run was just finished) and ml.spark_fail with the
-- row ops.claim_spark_stage returned, and by ml.spark_abandon with the row it
-- locked, in their transaction. Returns nothing.
CREATE OR REPLACE FUNCTION ops.close_spark_stage(
    stage ops.spark_stages, error text, status text DEFAULT 'failed'
)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM ops.spark_stages AS s WHERE s.run_id = (close_spark_stage.stage).run_id;
    IF close_spark_stage.error IS NOT NULL THEN
        UPDATE ops.runs AS r
        SET
            status = close_spark_stage.status,
            model_id = (close_spark_stage.stage).model_id,
            finished_at = clock_timestamp(),
            error = close_spark_stage.error
        WHERE r.run_id = (close_spark_stage.stage).run_id AND r.status = 'running';
    END IF;
    EXECUTE format(
        'DROP TABLE IF EXISTS staging.%I',
        CASE (close_spark_stage.stage).kind
            WHEN 'churn' THEN 'churn_scores_' ELSE 'forecasts_'
        END || (close_spark_stage.stage).run_id
    );
END;
$$;
REVOKE ALL ON FUNCTION ops.close_spark_stage(ops.spark_stages, text, text) FROM PUBLIC;
