-- ops.call(run_type, model_name, params, input_query): the body of every ml routine,
-- and the one place a call's failure is handled. Called by ml.train_churn_model,
-- ml.train_forecaster, ml.score_churn, ml.forecast, ml.activate_model and ml.predict
-- (ml.import_model's twin is ops.import_call), which only
-- name their run type and turn the JSON result into their own row.
--   1. ops.begin_run records the call as 'running', committed at once (so a session
--      that dies mid-call leaves a row that the next call marks 'abandoned');
--   2. ops.check_call refuses what is wrong before any work (a name of another kind,
--      bad options, a model without an active version);
--   3. ops.stage_input reads input_query with the CALLER's rights (this function is
--      SECURITY INVOKER) into the session's memory (NULL: the call reads no rows);
--   4. ops.run_call does the work with the OWNER's rights (SECURITY DEFINER); scoring
--      does it a batch at a time, steps 3 and 4 again for each next batch.
-- Any error, cancel and statement timeout included, goes to ops.fail_run, which
-- records the run as failed and re-raises it. Returns the result document.
-- No SET search_path here: the caller's input_query resolves names as the caller's would.
CREATE OR REPLACE FUNCTION ops.call(
    run_type text, model_name text, params jsonb, input_query text
)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
DECLARE
    v_run_id bigint;
    v_result jsonb;
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
BEGIN
    v_run_id := ops.begin_run(call.run_type, call.model_name, call.params);
    BEGIN
        IF coalesce(btrim(call.model_name), '') = '' OR length(call.model_name) > 128 THEN
            RAISE EXCEPTION 'sqlml: model_name must be 1 to 128 characters; got %',
                coalesce(length(call.model_name), 0)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- Names, kinds and options first: they cost nothing, the input may cost minutes.
        PERFORM ops.check_call(call.run_type, call.model_name, call.params);
        IF call.input_query IS NOT NULL THEN
            -- Scoring reads its id column as exact text, named by the churn spec
            -- (ml.score_churn) or by the imported version's schema (ml.predict).
            PERFORM ops.stage_input(v_run_id, call.input_query, CASE
                WHEN call.run_type = 'score_churn' THEN (
                    SELECT s.spec #>> '{input,id_column}' FROM models.specs AS s
                    WHERE s.kind = 'churn'
                )
                WHEN call.run_type = 'predict' THEN coalesce((
                    SELECT r.feature_schema ->> 'id_column' FROM models.registry AS r
                    WHERE r.model_name = call.model_name AND r.status = 'active'
                ), 'id')
            END, call.run_type = 'score_churn');
        END IF;
        v_result := ops.run_call(v_run_id);
        -- Scoring and forecasting read their input in batches: each next one here, with
        -- the caller's rights, for the owner's half to score or forecast and write
        -- (adapters/postgres_batches.py, adapters/postgres_series.py).
        WHILE coalesce((v_result ->> 'next_batch')::boolean, false) LOOP
            PERFORM ops.stage_input(v_run_id, NULL, NULL);
            v_result := ops.run_call(v_run_id);
        END LOOP;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        PERFORM ops.fail_run(v_run_id, v_state, v_message, v_detail, v_hint);
    END;
    RETURN v_result;
END;
$$;
REVOKE ALL ON FUNCTION ops.call(text, text, jsonb, text) FROM public;
GRANT EXECUTE ON FUNCTION ops.call(text, text, jsonb, text) TO sqlml_operator;
