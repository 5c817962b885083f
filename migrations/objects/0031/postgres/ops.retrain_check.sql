-- ops.retrain_check(model_name, evaluate_query, train_query, options, max_drop,
-- drift_runs, max_age_days): the retraining job's one step, which retrains only on
-- evidence and records its decision. Called by the pg_cron job sqlml-retrain-check
-- (sql/postgres/40_cron_jobs.sql), or by an operator; docs/agent-jobs.md says how a
-- DBA sets its window, margins and schedule.
--   1. evaluates the active version on the latest labelled window, evaluate_query
--      (ml.evaluate; NULL: no evaluation, so no 'realised' trigger);
--   2. retrains (ml.train_churn_model or ml.train_forecaster on train_query, NULL:
--      the kind's default, with options, activate => true) when any trigger holds:
--        realised  the realised metric is worse than the version's validation figure
--                  by more than max_drop (AUC below it; MASE above it);
--        drift     the version's last drift_runs scoring or forecasting runs each had
--                  a feature flagged (models.drift's PSI > 0.2);
--        schedule  the version has been active for max_age_days or more;
--      the new version is activated only by the activation rule (ops.register_model:
--      on the same rows, by the spec's margin);
--   3. records the decision, its trigger(s) and figures in the run's outcome.
-- Caller's rights (SECURITY INVOKER): evaluate_query and train_query run as the
-- caller, through the ml routines, which keep their own runs. Returns one row:
-- run_id, decision ('retrain' or 'none'), outcome (JSON text).
CREATE OR REPLACE FUNCTION ops.retrain_check(
    model_name text,
    evaluate_query text DEFAULT NULL,
    train_query text DEFAULT NULL,
    options text DEFAULT NULL,
    max_drop double precision DEFAULT 0.02,
    drift_runs integer DEFAULT 3,
    max_age_days integer DEFAULT 28
)
RETURNS TABLE (run_id bigint, decision text, outcome text)
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
DECLARE
    v_run_id bigint;
    v_active record;
    v_metric text;
    v_higher boolean;
    v_eval record;
    v_eval_run bigint;
    v_eval_rows bigint;
    v_realised double precision;
    v_validation double precision;
    v_flagged_runs integer;
    v_age_days double precision;
    v_triggers text[] := ARRAY[]::text[];
    v_trained record;
    v_outcome jsonb;
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
BEGIN
    v_run_id := ops.begin_run('retrain_check', retrain_check.model_name, jsonb_build_object(
        'evaluate_query', retrain_check.evaluate_query, 'train_query', retrain_check.train_query,
        'options', retrain_check.options, 'max_drop', retrain_check.max_drop,
        'drift_runs', retrain_check.drift_runs, 'max_age_days', retrain_check.max_age_days));
    BEGIN
        IF retrain_check.max_drop IS NULL OR retrain_check.max_drop < 0
            OR retrain_check.drift_runs IS NULL OR retrain_check.drift_runs < 1
            OR retrain_check.max_age_days IS NULL OR retrain_check.max_age_days < 0 THEN
            RAISE EXCEPTION 'sqlml: retrain_check needs max_drop >= 0, drift_runs >= 1 and max_age_days >= 0; got %, %, %',
                retrain_check.max_drop, retrain_check.drift_runs, retrain_check.max_age_days
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT r.model_id, r.version, r.kind, r.metrics, coalesce(r.activated_at, r.created_at)
            AS since
        INTO v_active
        FROM models.registry AS r
        WHERE r.model_name = retrain_check.model_name AND r.status = 'active';
        IF v_active.model_id IS NULL THEN
            RAISE EXCEPTION 'sqlml: model % has no active version to check',
                quote_literal(retrain_check.model_name)
                USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'train one first (ml.train_churn_model / ml.train_forecaster)';
        END IF;
        SELECT s.spec #>> '{activation_metric,name}',
            (s.spec #>> '{activation_metric,higher_is_better}')::boolean
        INTO v_metric, v_higher
        FROM models.specs AS s WHERE s.kind = v_active.kind;
        v_validation := (v_active.metrics ->> v_metric)::double precision;

        IF retrain_check.evaluate_query IS NOT NULL THEN
            SELECT * INTO v_eval FROM ml.evaluate(retrain_check.model_name,
                retrain_check.evaluate_query, v_active.version);
            v_realised := (v_eval.metrics::jsonb ->> v_metric)::double precision;
            v_eval_run := v_eval.run_id;
            v_eval_rows := v_eval.rows;
            IF (v_higher AND v_realised < v_validation - retrain_check.max_drop)
                OR (NOT v_higher AND v_realised > v_validation + retrain_check.max_drop) THEN
                v_triggers := v_triggers || 'realised'::text;
            END IF;
        END IF;

        SELECT count(*) FILTER (WHERE f.flagged) INTO v_flagged_runs
        FROM (
            SELECT u.run_id, EXISTS (
                SELECT FROM ops.run_drift AS d WHERE d.run_id = u.run_id AND d.flagged
            ) AS flagged
            FROM ops.runs AS u
            WHERE u.model_id = v_active.model_id AND u.status = 'succeeded'
                AND u.run_type IN ('score_churn', 'forecast')
            ORDER BY u.run_id DESC
            LIMIT retrain_check.drift_runs
        ) AS f;
        IF v_flagged_runs >= retrain_check.drift_runs THEN
            v_triggers := v_triggers || 'drift'::text;
        END IF;

        v_age_days := extract(epoch FROM now() - v_active.since) / 86400.0;
        IF v_age_days >= retrain_check.max_age_days THEN
            v_triggers := v_triggers || 'schedule'::text;
        END IF;

        v_outcome := jsonb_build_object(
            'decision', CASE WHEN cardinality(v_triggers) > 0 THEN 'retrain' ELSE 'none' END,
            'triggers', to_jsonb(v_triggers),
            'active_version', v_active.version, 'metric', v_metric,
            'validation', v_validation, 'realised', v_realised, 'max_drop', retrain_check.max_drop,
            'evaluation_run_id', v_eval_run, 'evaluated_rows', v_eval_rows,
            'drift_runs', retrain_check.drift_runs, 'flagged_runs', v_flagged_runs,
            'age_days', round(v_age_days::numeric, 3), 'max_age_days', retrain_check.max_age_days);
        IF cardinality(v_triggers) > 0 THEN
            IF v_active.kind = 'churn' THEN
                SELECT * INTO v_trained FROM ml.train_churn_model(retrain_check.model_name,
                    retrain_check.train_query, retrain_check.options, true);
            ELSE
                SELECT * INTO v_trained FROM ml.train_forecaster(retrain_check.model_name,
                    retrain_check.train_query, retrain_check.options, true);
            END IF;
            v_outcome := v_outcome || jsonb_build_object('trained_version', v_trained.version,
                'status', v_trained.status, 'status_reason', (
                    SELECT r.status_reason FROM models.registry AS r
                    WHERE r.model_id = v_trained.model_id));
        END IF;
        PERFORM ops.record_check(v_run_id, v_active.model_id, v_outcome);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        PERFORM ops.fail_run(v_run_id, v_state, v_message, v_detail, v_hint);
    END;
    RETURN QUERY SELECT v_run_id, v_outcome ->> 'decision', v_outcome::text;
END;
$$;
REVOKE ALL ON FUNCTION ops.retrain_check(text, text, text, text, double precision, integer, integer) FROM public;
GRANT EXECUTE ON FUNCTION ops.retrain_check(text, text, text, text, double precision, integer, integer) TO sqlml_operator;
