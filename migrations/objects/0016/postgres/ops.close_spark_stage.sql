-- ops.close_spark_stage(stage, error): record a Spark stage as a failed run and
-- drop it. Called by ml.spark_fail and ml.spark_abandon in their transaction, after
-- they have locked the stage's row. Returns the failed run's run_id.
CREATE OR REPLACE FUNCTION ops.close_spark_stage(stage ops.spark_stages, error text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_run_id bigint;
BEGIN
    INSERT INTO ops.runs (
        run_type, model_name, model_id, status, params, started_at, finished_at, error,
        created_by
    )
    VALUES (
        stage.run_type, stage.model_name, stage.model_id, 'failed',
        coalesce(stage.params, '{}'::jsonb) || jsonb_build_object('stage_id', stage.stage_id),
        stage.started_at, clock_timestamp(), close_spark_stage.error, stage.created_by
    )
    RETURNING run_id INTO v_run_id;
    DELETE FROM ops.spark_stages AS s WHERE s.stage_id = stage.stage_id;
    EXECUTE format(
        'DROP TABLE IF EXISTS staging.%I',
        CASE stage.kind WHEN 'churn' THEN 'churn_scores_' ELSE 'forecasts_' END || stage.stage_id
    );
    RETURN v_run_id;
END;
$$;
