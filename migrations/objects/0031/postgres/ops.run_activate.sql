-- ops.run_activate(run_id, model_name, version): make one version of a model the
-- active one and retire the one it replaces (promotion after review, or a rollback),
-- recording who did it in the versions' status_reason, and pinning it (models.registry.pinned). Called by ops.run_call for
-- ml.activate_model, with the owner's rights: the only way, besides a training run,
-- that a version becomes active. Returns {model_id, model_name, version, status}.
CREATE OR REPLACE FUNCTION ops.run_activate(run_id bigint, model_name text, version integer)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_model_id bigint;
    v_status text;
    v_versions integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('sqlml.registry/' || run_activate.model_name, 0));
    SELECT r.model_id, r.status INTO v_model_id, v_status
    FROM models.registry AS r
    WHERE r.model_name = run_activate.model_name AND r.version = run_activate.version
    FOR UPDATE;
    IF v_model_id IS NULL THEN
        SELECT count(*) INTO v_versions FROM models.registry AS r
        WHERE r.model_name = run_activate.model_name;
        RAISE EXCEPTION 'sqlml: model % has no version % (% version(s) registered)',
            quote_literal(run_activate.model_name), coalesce(run_activate.version::text, 'NULL'),
            v_versions
            USING ERRCODE = 'undefined_object';
    END IF;
    IF v_status <> 'active' THEN
        UPDATE models.registry AS r
        SET status = 'retired', pinned = false,
            status_reason = format('retired: version %s activated by %s',
                run_activate.version, session_user)
        WHERE r.model_name = run_activate.model_name AND r.status = 'active';
        UPDATE models.registry AS r
        SET status = 'active',
            status_reason = format('activated by %s with ml.activate_model (run %s); pinned: training keeps it until a version beats it by the margin on the same rows',
                session_user, run_activate.run_id),
            activated_at = now()
        WHERE r.model_id = v_model_id;
    END IF;
    -- Chosen by hand (a rollback, a promotion after review): the activation rule keeps
    -- it until a challenger beats it on the same rows (ops.register_model).
    UPDATE models.registry AS r SET pinned = true WHERE r.model_id = v_model_id;
    PERFORM ops.finish_run(run_activate.run_id, v_model_id, 1, 1);
    RETURN jsonb_build_object('model_id', v_model_id, 'model_name', run_activate.model_name,
        'version', run_activate.version, 'status', 'active');
END;
$$;
REVOKE ALL ON FUNCTION ops.run_activate(bigint, text, integer) FROM public;
