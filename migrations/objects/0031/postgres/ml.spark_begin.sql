-- ml.spark_begin(kind, model_name, model_version, horizon, params): open a run and its
-- stage for a Spark scoring or forecasting job (`sqlml spark score|forecast`,
-- sqlml.spark). Opens the run through ops.begin_run (run type score_churn or
-- forecast, params.engine 'spark'), then resolves the model exactly as ml.score_churn
-- / ml.forecast do (ops.model_version: model_version when given, else the active version;
-- its kind; its blob's binding to model id, name, version and kind; a horizon it
-- was trained for) and creates the stage: the run's partition of
-- staging.churn_scores or staging.forecasts, which the job's executors append to
-- with run_id set. Owner's rights: the job's role (sqlml_spark) reads no registry
-- table and writes no table but the stage. A refusal fails the run (ops.fail_run).
-- Returns one row: run_id, model_id, version, onnx_artifact, onnx_sha256.
-- The run then ends through ml.spark_publish (succeeded), ml.spark_fail (failed) or
-- ml.spark_abandon (abandoned).
-- Owner's rights, as every Spark routine; its columns are always qualified, so no OUT column
-- clashes with one (PL/pgSQL refuses an ambiguous name rather than guessing).
CREATE OR REPLACE FUNCTION ml.spark_begin(
    kind text,
    model_name text,
    model_version integer DEFAULT NULL,
    horizon integer DEFAULT NULL,
    params jsonb DEFAULT NULL
)
RETURNS TABLE (
    run_id bigint, model_id bigint, version integer, onnx_artifact bytea, onnx_sha256 text
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_run_id bigint;
    v_model_id bigint;
    v_version integer;
    v_onnx bytea;
    v_sha text;
    v_trained_horizon integer;
    v_table text;
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
BEGIN
    IF spark_begin.kind IS NULL OR spark_begin.kind NOT IN ('churn', 'forecaster') THEN
        RAISE EXCEPTION 'sqlml: kind % is not one Spark scores (churn or forecaster)',
            quote_nullable(spark_begin.kind) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Every call is a run, as with the procedures (ops.call): opened first, and
    -- failed by ops.fail_run, which re-raises, when anything below refuses it.
    v_run_id := ops.begin_run(
        CASE spark_begin.kind WHEN 'churn' THEN 'score_churn' ELSE 'forecast' END,
        spark_begin.model_name,
        coalesce(spark_begin.params, '{}'::jsonb) || jsonb_build_object(
            'engine', 'spark', 'model_version', spark_begin.model_version,
            'horizon', spark_begin.horizon
        )
    );
    BEGIN
        SELECT v.model_id, v.version, v.onnx_artifact, v.onnx_sha256
        INTO v_model_id, v_version, v_onnx, v_sha
        FROM ops.model_version(
            spark_begin.kind, spark_begin.model_name, spark_begin.model_version
        ) AS v;
        IF spark_begin.horizon IS NOT NULL THEN
            SELECT (r.spec #>> '{options,horizon}')::integer INTO v_trained_horizon
            FROM models.registry AS r WHERE r.model_id = v_model_id;
            IF spark_begin.kind <> 'forecaster'
                OR spark_begin.horizon < 1 OR spark_begin.horizon > v_trained_horizon THEN
                RAISE EXCEPTION 'sqlml: horizon % is beyond what model % (version %) was trained for: 1 to % months',
                    spark_begin.horizon, quote_literal(spark_begin.model_name), v_version,
                    coalesce(v_trained_horizon::text, '(no horizon: not a forecaster)')
                    USING ERRCODE = 'invalid_parameter_value',
                        HINT = 'pass a smaller horizon, or train a version with options {"horizon": N}';
            END IF;
        END IF;

        INSERT INTO ops.spark_stages (run_id, kind, model_id, horizon, created_by)
        VALUES (v_run_id, spark_begin.kind, v_model_id, spark_begin.horizon, session_user);
        v_table := CASE spark_begin.kind WHEN 'churn' THEN 'churn_scores' ELSE 'forecasts' END;
        -- A partition of this name without a stage row is an orphan (the run log was
        -- emptied and its identity restarted): its rows belong to no open run.
        EXECUTE format('DROP TABLE IF EXISTS staging.%I', v_table || '_' || v_run_id);
        EXECUTE format(
            'CREATE TABLE staging.%I PARTITION OF staging.%I FOR VALUES IN (%s)',
            v_table || '_' || v_run_id, v_table, v_run_id
        );
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        PERFORM ops.fail_run(v_run_id, v_state, v_message, v_detail, v_hint);
    END;
    RETURN QUERY SELECT v_run_id, v_model_id, v_version, v_onnx, v_sha;
END;
$$;
REVOKE ALL ON FUNCTION ml.spark_begin(text, text, integer, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ml.spark_begin(text, text, integer, integer, jsonb) TO sqlml_spark;
