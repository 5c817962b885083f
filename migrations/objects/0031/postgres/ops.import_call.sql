-- ops.import_call(model_name, model, options, activate): the body of ml.import_model,
-- ops.call's steps for a call that brings a blob: the blob goes straight to the
-- owner's half as an argument, never into ops.runs.params (which keeps its size and
-- sha256 instead).
--   1. ops.begin_run records the call as 'running', committed at once;
--   2. ops.stage_input reads options.reference_query, if any, with the CALLER's rights
--      (this function is SECURITY INVOKER);
--   3. ops.run_import checks and registers the model with the OWNER's rights.
-- Any error goes to ops.fail_run, which records the run as failed and re-raises it.
-- Returns the result document: model_id, model_name, version, status, metrics.
-- No SET search_path here: the reference query resolves names as the caller's would.
CREATE OR REPLACE FUNCTION ops.import_call(
    model_name text, model bytea, options text, activate boolean
)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
DECLARE
    v_run_id bigint;
    v_result jsonb;
    v_reference text;
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
BEGIN
    v_run_id := ops.begin_run('import_model', import_call.model_name, jsonb_build_object(
        'options', import_call.options, 'activate', import_call.activate,
        'model_bytes', octet_length(import_call.model),
        'model_sha256', encode(sha256(import_call.model), 'hex')
    ));
    BEGIN
        IF coalesce(btrim(import_call.model_name), '') = ''
            OR length(import_call.model_name) > 128 THEN
            RAISE EXCEPTION 'sqlml: model_name must be 1 to 128 characters; got %',
                coalesce(length(import_call.model_name), 0)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF import_call.model IS NULL THEN
            RAISE EXCEPTION 'sqlml: model is NULL: pass the bytes of an .onnx file'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- Malformed options are the Python's to name; only the query is taken here.
        BEGIN
            v_reference := import_call.options::jsonb ->> 'reference_query';
        EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value THEN
            v_reference := NULL;
        END;
        IF v_reference IS NOT NULL THEN
            PERFORM ops.stage_input(v_run_id, v_reference, NULL);
        END IF;
        v_result := ops.run_import(v_run_id, import_call.model);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        PERFORM ops.fail_run(v_run_id, v_state, v_message, v_detail, v_hint);
    END;
    RETURN v_result;
END;
$$;
REVOKE ALL ON FUNCTION ops.import_call(text, bytea, text, boolean) FROM public;
GRANT EXECUTE ON FUNCTION ops.import_call(text, bytea, text, boolean) TO sqlml_operator;
