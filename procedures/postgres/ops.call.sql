-- ops.call(run_type, model_name, params, input_query): the body of every ml routine,
-- and the one place a call's failure is handled. Called by ml.train_churn_model,
-- ml.train_forecaster, ml.score_churn, ml.forecast and ml.activate_model, which only
-- name their run type and turn the JSON result into their own row.
--   1. ops.begin_run records the call as 'running', committed at once (so a session
--      that dies mid-call leaves a row that the next call marks 'abandoned');
--   2. ops.stage_input reads input_query with the CALLER's rights (this function is
--      SECURITY INVOKER) into the session's memory (NULL: the call reads no rows);
--   3. ops.run_call does the work with the OWNER's rights (SECURITY DEFINER); scoring
--      does it a batch at a time, steps 2 and 3 again for each next batch.
-- Any error, cancel and statement timeout included, goes to ops.fail_call, which
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
        IF call.input_query IS NOT NULL THEN
            -- Scoring reads its id column as exact text, named by the churn spec.
            PERFORM ops.stage_input(v_run_id, call.input_query, CASE
                WHEN call.run_type = 'score_churn' THEN (
                    SELECT s.spec #>> '{input,id_column}' FROM models.specs AS s
                    WHERE s.kind = 'churn'
                )
            END);
        END IF;
        v_result := ops.run_call(v_run_id);
        -- Scoring reads its input in batches: each next one here, with the caller's
        -- rights, for the owner's half to score and write (adapters/postgres_batches.py).
        WHILE coalesce((v_result ->> 'next_batch')::boolean, false) LOOP
            PERFORM ops.stage_input(v_run_id, NULL, NULL);
            v_result := ops.run_call(v_run_id);
        END LOOP;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        PERFORM ops.fail_call(v_run_id, v_state, v_message, v_detail, v_hint);
    END;
    RETURN v_result;
END;
$$;
REVOKE ALL ON FUNCTION ops.call(text, text, jsonb, text) FROM public;
GRANT EXECUTE ON FUNCTION ops.call(text, text, jsonb, text) TO sqlml_operator;
