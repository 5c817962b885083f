-- ml.spark_abandon(older_than_minutes): close the Spark stages that were opened more
-- than older_than_minutes ago and never published (a driver that died, a cluster
-- that was stopped) as failed runs, and drop their rows, with the partitions of
-- stages no longer open. Called by a DBA, an
-- operator or a scheduled job; the default, a day, is longer than any Spark job
-- sqlml expects. Returns one row per stage closed: stage_id, run_id.
CREATE OR REPLACE FUNCTION ml.spark_abandon(older_than_minutes integer DEFAULT 1440)
RETURNS TABLE (stage_id bigint, run_id bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_stage ops.spark_stages;
    v_orphan record;
BEGIN
    FOR v_stage IN
        SELECT * FROM ops.spark_stages AS s
        WHERE s.started_at < clock_timestamp() - make_interval(mins => spark_abandon.older_than_minutes)
        ORDER BY s.stage_id
        FOR UPDATE SKIP LOCKED
    LOOP
        stage_id := v_stage.stage_id;
        run_id := ops.close_spark_stage(v_stage, format(
            'abandoned: Spark stage %s was opened at %s and never published',
            v_stage.stage_id, v_stage.started_at
        ));
        RETURN NEXT;
    END LOOP;
    FOR v_orphan IN
        SELECT p.oid::regclass::text AS name
        FROM pg_catalog.pg_inherits AS i
        JOIN pg_catalog.pg_class AS p ON p.oid = i.inhrelid
        WHERE i.inhparent IN ('staging.churn_scores'::regclass, 'staging.forecasts'::regclass)
            AND NOT EXISTS (
                SELECT 1 FROM ops.spark_stages AS s
                WHERE p.relname IN ('churn_scores_' || s.stage_id, 'forecasts_' || s.stage_id)
            )
    LOOP
        EXECUTE 'DROP TABLE ' || v_orphan.name;
    END LOOP;
END;
$$;
