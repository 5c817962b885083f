-- ops.run_import(run_id, model): the owner's half of ml.import_model (SECURITY
-- DEFINER, pinned search_path). Called by ops.import_call. Takes the call from its
-- run row, which must be an import running in this very session; checks the blob and
-- builds its registration in the embedded Python (ops.python_step 'import', on the
-- reference rows the caller staged, if any), and registers it as the model's next
-- version of kind 'imported' (ops.register_model: the version's binding to its id,
-- name, version and kind). Returns {model_id, model_name, version, status, metrics}.
-- Executable by sqlml_operator: alone, it does what ml.import_model does, for a run
-- that is an import in progress of the caller's own session, and nothing else.
CREATE OR REPLACE FUNCTION ops.run_import(run_id bigint, model bytea)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_run ops.runs;
    v_spec jsonb;
    v_imported record;
    v_registered record;
    v_activate boolean;
BEGIN
    SELECT r.* INTO v_run FROM ops.runs AS r
    WHERE
        r.run_id = run_import.run_id
        AND r.run_type = 'import_model'
        AND r.status = 'running'
        AND r.created_by = session_user
        AND r.backend_pid = pg_backend_pid()
        AND r.backend_start = (
            SELECT a.backend_start FROM pg_stat_activity AS a WHERE a.pid = pg_backend_pid()
        );
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sqlml: run % is not an import in progress in this session',
            quote_nullable(run_import.run_id)
            USING ERRCODE = 'insufficient_privilege',
                HINT = 'call ml.import_model; ops.run_import is its second half';
    END IF;
    SELECT s.spec INTO v_spec FROM models.specs AS s WHERE s.kind = 'imported';
    IF v_spec IS NULL THEN
        RAISE EXCEPTION 'sqlml: no spec for model kind imported'
            USING ERRCODE = 'undefined_object', HINT = 'run sqlml deploy';
    END IF;
    v_activate := coalesce((v_run.params ->> 'activate')::boolean, true);
    SELECT * INTO v_imported
    FROM ops.python_step('import', v_run.run_id, jsonb_build_object(
        'spec', v_spec, 'options', v_run.params ->> 'options'
    ), run_import.model) AS t (artifact bytea, onnx_artifact bytea, registration jsonb);
    SELECT * INTO v_registered FROM ops.register_model(
        'imported', v_run.model_name, v_imported.artifact, v_imported.onnx_artifact,
        v_imported.registration, v_activate
    );
    -- ops.register_model's rule for kind imported (no metric to compare: activate
    -- decides) writes the status and its reason.
    PERFORM ops.finish_run(
        v_run.run_id, v_registered.model_id,
        (v_imported.registration ->> 'trained_rows')::bigint, 1
    );
    RETURN jsonb_build_object(
        'model_id', v_registered.model_id, 'model_name', v_run.model_name,
        'version', v_registered.version, 'status', v_registered.status,
        'metrics', v_imported.registration -> 'metrics'
    );
END;
$$;
REVOKE ALL ON FUNCTION ops.run_import(bigint, bytea) FROM public;
GRANT EXECUTE ON FUNCTION ops.run_import(bigint, bytea) TO sqlml_operator;
