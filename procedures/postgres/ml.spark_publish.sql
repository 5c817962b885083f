-- ml.spark_publish(spark_run_id, rows_in, rows_expected): publish a Spark job's stage and
-- finish its run, in one transaction. Called by sqlml.spark once every task has
-- written its rows. A retried or speculative Spark task may have appended the same
-- rows twice: the stage is deduplicated on the prediction table's key, and refused
-- when one key carries two different values. It is refused too unless it holds
-- exactly rows_expected distinct keys (the job's own count of what it read) and, for
-- forecasts, rows_in series. The predictions are written, the run finished through
-- ops.finish_run (rows_in and rows_out as ml.score_churn / ml.forecast count them)
-- and the stage's partition dropped. Only the login that began the run may publish.
-- Returns one row: run_id, model_id, version, rows_written. On any error nothing
-- is published and the run stays open for ml.spark_fail.
-- Owner's rights, as every Spark routine; its columns are always qualified, so no OUT column
-- clashes with one (PL/pgSQL refuses an ambiguous name rather than guessing).
CREATE OR REPLACE FUNCTION ml.spark_publish(
    spark_run_id bigint,
    rows_in bigint,
    rows_expected bigint
)
RETURNS TABLE (run_id bigint, model_id bigint, version integer, rows_written bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_stage ops.spark_stages;
    v_status text;
    v_version integer;
    v_rows bigint;
    v_keys bigint;
    v_series bigint;
    v_conflicts bigint;
    v_bad bigint;
    v_staged bigint;
BEGIN
    v_stage := ops.claim_spark_stage(spark_publish.spark_run_id);
    IF v_stage.run_id IS NULL THEN
        RAISE EXCEPTION 'sqlml: Spark run % has no open stage (published, failed or abandoned already)',
            spark_publish.spark_run_id USING ERRCODE = 'undefined_object';
    END IF;
    SELECT r.status INTO v_status FROM ops.runs AS r WHERE r.run_id = v_stage.run_id;
    IF v_status IS DISTINCT FROM 'running' THEN
        RAISE EXCEPTION 'sqlml: Spark run % is %, so its stage cannot be published',
            spark_publish.spark_run_id, coalesce(v_status, 'gone from ops.runs')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'run the job again';
    END IF;
    SELECT r.version INTO v_version FROM models.registry AS r WHERE r.model_id = v_stage.model_id;

    -- One aggregate pass per check set (hash aggregates, no sorts): keys, keys with
    -- two different values, rows with a missing key or value, and all rows.
    IF v_stage.kind = 'churn' THEN
        SELECT count(*), count(*) FILTER (WHERE g.low <> g.high),
            coalesce(sum(g.bad), 0) + count(*) FILTER (WHERE g.customer_id IS NULL),
            coalesce(sum(g.n), 0)
        INTO v_keys, v_conflicts, v_bad, v_staged
        FROM (
            SELECT s.customer_id, min(s.churn_probability) AS low,
                max(s.churn_probability) AS high, count(*) AS n,
                count(*) FILTER (WHERE s.churn_probability IS NULL
                    OR s.churn_probability NOT BETWEEN 0 AND 1) AS bad
            FROM staging.churn_scores AS s WHERE s.run_id = v_stage.run_id
            GROUP BY s.customer_id
        ) AS g;
    ELSE
        SELECT count(*), count(*) FILTER (WHERE g.variants > 1),
            coalesce(sum(g.bad), 0)
                + count(*) FILTER (WHERE g.series_id IS NULL OR g.period IS NULL),
            coalesce(sum(g.n), 0), count(DISTINCT g.series_id)
        INTO v_keys, v_conflicts, v_bad, v_staged, v_series
        FROM (
            SELECT s.series_id, s.period, count(*) AS n,
                count(DISTINCT (s.step, s.forecast, s.lower, s.upper)) AS variants,
                count(*) FILTER (WHERE s.step IS NULL OR s.step < 1 OR s.forecast IS NULL)
                    AS bad
            FROM staging.forecasts AS s WHERE s.run_id = v_stage.run_id
            GROUP BY s.series_id, s.period
        ) AS g;
    END IF;
    IF v_bad > 0 THEN
        RAISE EXCEPTION 'sqlml: Spark run % staged % row(s) with a missing key or value, or a probability outside 0..1',
            v_stage.run_id, v_bad USING ERRCODE = 'check_violation';
    END IF;
    IF v_conflicts > 0 THEN
        RAISE EXCEPTION 'sqlml: Spark run % staged % key(s) with two different predictions',
            v_stage.run_id, v_conflicts
            USING ERRCODE = 'unique_violation',
                HINT = 'a key must be unique in the input query (customer_id, or series_id and period)';
    END IF;
    IF v_keys <> spark_publish.rows_expected THEN
        RAISE EXCEPTION 'sqlml: Spark run % staged % distinct key(s), but the job expected %',
            v_stage.run_id, v_keys, spark_publish.rows_expected
            USING ERRCODE = 'data_exception',
                HINT = 'the input changed while the job read it, a task lost rows, or the input query repeats a key; run the job again';
    END IF;
    IF v_stage.kind = 'forecaster' AND v_series <> spark_publish.rows_in THEN
        RAISE EXCEPTION 'sqlml: Spark run % forecast % series, but the job read %',
            v_stage.run_id, v_series, spark_publish.rows_in USING ERRCODE = 'data_exception';
    END IF;

    -- Without duplicates (no task was retried after its commit) the stage goes in
    -- as it is; with them, one row per key (their values are equal, checked above).
    IF v_stage.kind = 'churn' AND v_staged = v_keys THEN
        INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)
        SELECT v_stage.run_id, v_stage.model_id, s.customer_id, s.churn_probability
        FROM staging.churn_scores AS s
        WHERE s.run_id = v_stage.run_id;
    ELSIF v_stage.kind = 'churn' THEN
        INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)
        SELECT v_stage.run_id, v_stage.model_id, s.customer_id, min(s.churn_probability)
        FROM staging.churn_scores AS s
        WHERE s.run_id = v_stage.run_id
        GROUP BY s.customer_id;
    ELSE
        INSERT INTO predictions.forecasts (
            run_id, model_id, series_id, period, step, forecast, lower, upper
        )
        SELECT DISTINCT ON (s.series_id, s.period)
            v_stage.run_id, v_stage.model_id, s.series_id, s.period, s.step, s.forecast,
            s.lower, s.upper
        FROM staging.forecasts AS s
        WHERE s.run_id = v_stage.run_id
        ORDER BY s.series_id, s.period;
    END IF;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM ops.finish_run(v_stage.run_id, v_stage.model_id, spark_publish.rows_in, v_rows);
    PERFORM ops.close_spark_stage(v_stage, NULL);
    RETURN QUERY SELECT v_stage.run_id, v_stage.model_id, v_version, v_rows;
END;
$$;
REVOKE ALL ON FUNCTION ml.spark_publish(bigint, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ml.spark_publish(bigint, bigint, bigint) TO sqlml_spark;
