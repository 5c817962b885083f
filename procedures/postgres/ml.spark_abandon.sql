-- ml.spark_abandon(older_than_minutes): close the stages of Spark runs that will
-- never be published. First ops.sweep_runs marks 'abandoned' every running run whose
-- session is gone (a Spark driver holds one session from ml.spark_begin to
-- ml.spark_publish, so a driver that died leaves such a run). Then every stage whose
-- run is no longer running is dropped, and so is every stage of a run begun more
-- than older_than_minutes ago whose session is still there (a hung job), the run
-- marked 'abandoned'. Also drops stage partitions no open run owns. Called by a DBA,
-- an operator or a scheduled job; the default, a day, is longer than any Spark job
-- sqlml expects. Returns one row per stage closed: run_id, status (the run's).
-- Owner's rights, as every Spark routine; its columns are always qualified, so no OUT column
-- clashes with one (PL/pgSQL refuses an ambiguous name rather than guessing).
CREATE OR REPLACE FUNCTION ml.spark_abandon(older_than_minutes integer DEFAULT 1440)
RETURNS TABLE (run_id bigint, status text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_run record;
    v_orphan record;
BEGIN
    PERFORM ops.sweep_runs();
    FOR v_run IN
        SELECT s.run_id, r.started_at, s AS stage
        FROM ops.spark_stages AS s
        LEFT JOIN ops.runs AS r ON r.run_id = s.run_id
        WHERE r.status IS DISTINCT FROM 'running'
            OR r.started_at < clock_timestamp()
            - make_interval(mins => spark_abandon.older_than_minutes)
        ORDER BY s.run_id
        FOR UPDATE OF s SKIP LOCKED
    LOOP
        PERFORM ops.close_spark_stage(v_run.stage, format(
            'sqlml: abandoned: Spark run %s began at %s and was never published',
            v_run.run_id, v_run.started_at
        ), 'abandoned');
        run_id := v_run.run_id;
        SELECT r.status INTO status FROM ops.runs AS r WHERE r.run_id = v_run.run_id;
        RETURN NEXT;
    END LOOP;
    FOR v_orphan IN
        SELECT p.oid::regclass::text AS name
        FROM pg_catalog.pg_inherits AS i
        INNER JOIN pg_catalog.pg_class AS p ON i.inhrelid = p.oid
        WHERE i.inhparent IN ('staging.churn_scores'::regclass, 'staging.forecasts'::regclass)
            AND NOT EXISTS (
                SELECT 1 FROM ops.spark_stages AS s
                WHERE p.relname IN ('churn_scores_' || s.run_id, 'forecasts_' || s.run_id)
            )
    LOOP
        EXECUTE 'DROP TABLE ' || v_orphan.name;
    END LOOP;
END;
$$;
REVOKE ALL ON FUNCTION ml.spark_abandon(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ml.spark_abandon(integer) TO sqlml_spark;
GRANT EXECUTE ON FUNCTION ml.spark_abandon(integer) TO sqlml_operator;
