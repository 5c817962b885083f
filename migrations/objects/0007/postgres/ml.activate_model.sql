-- ml.activate_model(model_name, version): make one version of a model the active one
-- (and retire the one it replaces): promotion after review, or a rollback.
-- Called by ML engineers and `sqlml`. Returns one row: model_id, model_name,
-- version, status. Recorded in ops.runs and in the versions' status_reason.
CREATE OR REPLACE FUNCTION ml.activate_model(model_name text, version integer)
RETURNS SETOF ml.model_state
LANGUAGE plpgsql
AS $$
DECLARE
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
    v_params jsonb := jsonb_build_object('version', activate_model.version);
    v_run_id bigint;
    v_model_id bigint;
    v_status text;
    v_versions integer;
BEGIN
    BEGIN
        v_run_id := ops.begin_run('activate_model', activate_model.model_name, v_params);
        PERFORM pg_advisory_xact_lock(
            hashtextextended('sqlml.registry/' || activate_model.model_name, 0)
        );
        SELECT r.model_id, r.status INTO v_model_id, v_status
        FROM models.registry AS r
        WHERE r.model_name = activate_model.model_name AND r.version = activate_model.version
        FOR UPDATE;
        IF v_model_id IS NULL THEN
            SELECT count(*) INTO v_versions FROM models.registry AS r
            WHERE r.model_name = activate_model.model_name;
            RAISE EXCEPTION 'sqlml: model % has no version % (% version(s) registered)',
                quote_literal(activate_model.model_name), activate_model.version, v_versions
                USING ERRCODE = 'undefined_object';
        END IF;
        IF v_status <> 'active' THEN
            UPDATE models.registry AS r
            SET status = 'retired',
                status_reason = format('retired: version %s activated by %s',
                    activate_model.version, session_user)
            WHERE r.model_name = activate_model.model_name AND r.status = 'active';
            UPDATE models.registry AS r
            SET status = 'active',
                status_reason = format('activated by %s with ml.activate_model', session_user),
                activated_at = now()
            WHERE r.model_id = v_model_id;
        END IF;
        PERFORM ops.finish_run(v_run_id, v_model_id, 1, 1);
    EXCEPTION WHEN OTHERS THEN
        -- Re-raised with the same SQLSTATE, minus PL/Python's exception-class
        -- prefix and traceback: the caller sees the sentence that names the problem.
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_message := regexp_replace(v_message, '^plpy\.Error: ', '');
        PERFORM ops.fail_run(
            v_run_id, 'activate_model', activate_model.model_name, NULL, v_params, v_message
        );
        PERFORM ops.reraise(v_state, v_message, v_detail, v_hint);
    END;
    RETURN QUERY SELECT v_model_id, activate_model.model_name, activate_model.version, 'active'::text;
END;
$$;
