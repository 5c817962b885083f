-- ml.spark_publish(stage_id, rows_in, rows_expected): publish a Spark job's stage as
-- one succeeded run, in one transaction. Called by sqlml.spark once every task
-- has written its rows. A retried or speculative Spark task may have appended the
-- same rows twice: the stage is deduplicated on the prediction table's key, and
-- refused when one key carries two different values. It is refused too unless it
-- holds exactly rows_expected distinct keys (the job's own count of what it read)
-- and, for forecasts, rows_in series; the run then records rows_in and rows_out
-- like ml.score_churn / ml.forecast, and the stage's partition is dropped. Only
-- the login that opened the stage may publish it.
-- Returns one row: run_id, model_id, version, rows_written. On any error nothing
-- is published and the stage stays open for ml.spark_fail.
CREATE OR REPLACE FUNCTION ml.spark_publish(
    stage_id bigint,
    rows_in bigint,
    rows_expected bigint
)
RETURNS TABLE (run_id bigint, model_id bigint, version integer, rows_written bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_stage ops.spark_stages;
    v_run_id bigint;
    v_version integer;
    v_table text;
    v_rows bigint;
    v_keys bigint;
    v_series bigint;
    v_conflicts bigint;
    v_bad bigint;
BEGIN
    SELECT * INTO v_stage FROM ops.spark_stages AS s
    WHERE s.stage_id = spark_publish.stage_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sqlml: Spark stage % is not open (published, failed or abandoned already)',
            spark_publish.stage_id USING ERRCODE = 'undefined_object';
    END IF;
    IF v_stage.created_by <> session_user THEN
        RAISE EXCEPTION 'sqlml: Spark stage % belongs to %, not to %',
            spark_publish.stage_id, quote_ident(v_stage.created_by), quote_ident(session_user)
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT r.version INTO v_version FROM models.registry AS r WHERE r.model_id = v_stage.model_id;

    IF v_stage.kind = 'churn' THEN
        v_table := 'churn_scores';
        SELECT count(DISTINCT s.customer_id),
            count(*) FILTER (WHERE s.customer_id IS NULL OR s.churn_probability IS NULL
                OR s.churn_probability NOT BETWEEN 0 AND 1)
        INTO v_keys, v_bad
        FROM staging.churn_scores AS s WHERE s.stage_id = v_stage.stage_id;
        SELECT count(*) INTO v_conflicts FROM (
            SELECT s.customer_id FROM staging.churn_scores AS s
            WHERE s.stage_id = v_stage.stage_id
            GROUP BY s.customer_id HAVING count(DISTINCT s.churn_probability) > 1
        ) AS c;
    ELSE
        v_table := 'forecasts';
        SELECT count(DISTINCT (s.series_id, s.period)), count(DISTINCT s.series_id),
            count(*) FILTER (WHERE s.series_id IS NULL OR s.period IS NULL OR s.step IS NULL
                OR s.step < 1 OR s.forecast IS NULL)
        INTO v_keys, v_series, v_bad
        FROM staging.forecasts AS s WHERE s.stage_id = v_stage.stage_id;
        SELECT count(*) INTO v_conflicts FROM (
            SELECT s.series_id, s.period FROM staging.forecasts AS s
            WHERE s.stage_id = v_stage.stage_id
            GROUP BY s.series_id, s.period
            HAVING count(DISTINCT (s.step, s.forecast, s.lower, s.upper)) > 1
        ) AS c;
    END IF;
    IF v_bad > 0 THEN
        RAISE EXCEPTION 'sqlml: Spark stage % holds % row(s) with a missing key or value, or a probability outside 0..1',
            v_stage.stage_id, v_bad USING ERRCODE = 'check_violation';
    END IF;
    IF v_conflicts > 0 THEN
        RAISE EXCEPTION 'sqlml: Spark stage % gives % key(s) two different predictions',
            v_stage.stage_id, v_conflicts
            USING ERRCODE = 'unique_violation',
                HINT = 'a key must be unique in the input query (customer_id, or series_id and period)';
    END IF;
    IF v_keys <> spark_publish.rows_expected THEN
        RAISE EXCEPTION 'sqlml: Spark stage % holds % distinct key(s), but the job expected %',
            v_stage.stage_id, v_keys, spark_publish.rows_expected
            USING ERRCODE = 'data_exception',
                HINT = 'the input changed while the job read it, a task lost rows, or the input query repeats a key; run the job again';
    END IF;
    IF v_table = 'forecasts' AND v_series <> spark_publish.rows_in THEN
        RAISE EXCEPTION 'sqlml: Spark stage % forecasts % series, but the job read %',
            v_stage.stage_id, v_series, spark_publish.rows_in USING ERRCODE = 'data_exception';
    END IF;

    v_run_id := ops.begin_run(v_stage.run_type, v_stage.model_name,
        coalesce(v_stage.params, '{}'::jsonb) || jsonb_build_object('stage_id', v_stage.stage_id));
    UPDATE ops.runs AS r
    SET started_at = v_stage.started_at, created_by = v_stage.created_by
    WHERE r.run_id = v_run_id;
    IF v_table = 'churn_scores' THEN
        INSERT INTO predictions.churn_scores (run_id, model_id, customer_id, churn_probability)
        SELECT DISTINCT ON (s.customer_id) v_run_id, v_stage.model_id, s.customer_id, s.churn_probability
        FROM staging.churn_scores AS s
        WHERE s.stage_id = v_stage.stage_id
        ORDER BY s.customer_id;
    ELSE
        INSERT INTO predictions.forecasts (
            run_id, model_id, series_id, period, step, forecast, lower, upper
        )
        SELECT DISTINCT ON (s.series_id, s.period)
            v_run_id, v_stage.model_id, s.series_id, s.period, s.step, s.forecast, s.lower, s.upper
        FROM staging.forecasts AS s
        WHERE s.stage_id = v_stage.stage_id
        ORDER BY s.series_id, s.period;
    END IF;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM ops.finish_run(v_run_id, v_stage.model_id, spark_publish.rows_in, v_rows);
    DELETE FROM ops.spark_stages AS s WHERE s.stage_id = v_stage.stage_id;
    EXECUTE format('DROP TABLE staging.%I', v_table || '_' || v_stage.stage_id);
    RETURN QUERY SELECT v_run_id, v_stage.model_id, v_version, v_rows;
END;
$$;
