-- ops.run_call(run_id): the owner's half of a call (SECURITY DEFINER, pinned
-- search_path). Called by ops.call after ops.stage_input. Takes the call from its run
-- row (type, model name, parameters), which must be running in this very session
-- (backend pid and start time), and hands it to the routine of its type:
-- ops.run_train, ops.run_score_churn, ops.run_forecast, ops.run_predict_model,
-- ops.run_evaluate or ops.run_activate (the procedures SQL Server's ops.call runs for the same run types).
-- Returns that routine's result document.
-- Executable by sqlml_operator: alone, it does what the ml routine of the run's type
-- does, on rows the caller staged with its own rights, and nothing for a run id
-- that is not a call in progress of the caller's own session.
CREATE OR REPLACE FUNCTION ops.run_call(run_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_run ops.runs;
BEGIN
    SELECT r.* INTO v_run FROM ops.runs AS r
    WHERE
        r.run_id = run_call.run_id
        AND r.status = 'running'
        AND r.created_by = session_user
        AND r.backend_pid = pg_backend_pid()
        AND r.backend_start = (
            SELECT a.backend_start FROM pg_stat_activity AS a WHERE a.pid = pg_backend_pid()
        );
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sqlml: run % is not a call in progress in this session',
            quote_nullable(run_call.run_id)
            USING ERRCODE = 'insufficient_privilege',
                HINT = 'call the ml routines (ml.score_churn, ...); ops.run_call is their second half';
    END IF;
    RETURN CASE v_run.run_type
        WHEN 'train_churn_model' THEN ops.run_train(
            v_run.run_id, 'churn', v_run.model_name, v_run.params ->> 'options',
            coalesce((v_run.params ->> 'activate')::boolean, true))
        WHEN 'train_forecaster' THEN ops.run_train(
            v_run.run_id, 'forecaster', v_run.model_name, v_run.params ->> 'options',
            coalesce((v_run.params ->> 'activate')::boolean, true))
        WHEN 'score_churn' THEN ops.run_score_churn(
            v_run.run_id, v_run.model_name, (v_run.params ->> 'explain')::integer,
            coalesce((v_run.params ->> 'preview')::boolean, false),
            (v_run.params ->> 'version')::integer)
        WHEN 'forecast' THEN ops.run_forecast(
            v_run.run_id, v_run.model_name, (v_run.params ->> 'horizon')::integer,
            (v_run.params ->> 'version')::integer)
        WHEN 'predict' THEN ops.run_predict_model(
            v_run.run_id, v_run.model_name, v_run.params)
        WHEN 'evaluate' THEN ops.run_evaluate(v_run.run_id, v_run.model_name, v_run.params)
        WHEN 'activate_model' THEN ops.run_activate(
            v_run.run_id, v_run.model_name, (v_run.params ->> 'version')::integer)
    END;
END;
$$;
REVOKE ALL ON FUNCTION ops.run_call(bigint) FROM public;
GRANT EXECUTE ON FUNCTION ops.run_call(bigint) TO sqlml_operator;
