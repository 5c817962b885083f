-- ops.train_model(kind, run_type, model_name, input_query, options, activate): the body
-- of every training procedure. Called by ml.train_churn_model ('churn') and
-- ml.train_forecaster ('forecaster'), which only name their kind. Reads the kind's
-- spec, trains in PL/Python (ops.train_py) on the input query with the caller's
-- rights, and registers the version with the activation rule (ops.register_model).
-- Returns one row: model_id, model_name, version, status, metrics (JSON text).
-- The call is a run in ops.runs; on any error nothing is registered.
CREATE OR REPLACE FUNCTION ops.train_model(
    kind text,
    run_type text,
    model_name text,
    input_query text,
    options text,
    activate boolean
)
RETURNS SETOF ml.trained_model
LANGUAGE plpgsql
AS $$
DECLARE
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
    v_params jsonb := jsonb_build_object(
        'input_query', input_query, 'options', options, 'activate', activate
    );
    v_run_id bigint;
    v_spec jsonb;
    v_trained record;
    v_registered record;
BEGIN
    BEGIN
        v_run_id := ops.begin_run(run_type, model_name, v_params);
        SELECT s.spec INTO v_spec FROM models.specs AS s WHERE s.kind = train_model.kind;
        IF v_spec IS NULL THEN
            RAISE EXCEPTION 'sqlml: no spec for model kind %', kind
                USING ERRCODE = 'undefined_object', HINT = 'run sqlml deploy';
        END IF;
        SELECT * INTO v_trained FROM ops.train_py(
            kind, coalesce(input_query, v_spec #>> '{input,default_query}'), v_spec, options
        );
        SELECT * INTO v_registered FROM ops.register_model(
            kind, model_name, v_trained.artifact, v_trained.onnx_artifact,
            v_trained.registration, coalesce(activate, true)
        );
        PERFORM ops.finish_run(
            v_run_id, v_registered.model_id,
            (v_trained.registration ->> 'trained_rows')::bigint, 1
        );
    EXCEPTION WHEN OTHERS THEN
        -- Re-raised with the same SQLSTATE, minus PL/Python's exception-class
        -- prefix and traceback: the caller sees the sentence that names the problem.
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_message := regexp_replace(v_message, '^plpy\.Error: ', '');
        PERFORM ops.fail_run(v_run_id, run_type, model_name, NULL, v_params, v_message);
        PERFORM ops.reraise(v_state, v_message, v_detail, v_hint);
    END;
    RETURN QUERY SELECT
        v_registered.model_id,
        model_name,
        v_registered.version,
        v_registered.status,
        (v_trained.registration -> 'metrics')::text;
END;
$$;
