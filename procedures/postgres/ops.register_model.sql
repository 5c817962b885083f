-- ops.register_model(kind, model_name, artifact, onnx_artifact, registration, activate):
-- add the next version of a model to models.registry and apply the activation rule.
-- Called by ops.run_train (owner's rights) with what the embedded Python returned. Rule: with activate, the new version becomes active when the
-- model has no active version, or when its validation metric (the spec's
-- activation_metric: AUC for churn, MASE for forecasts) is at least as good as the
-- active version's; status_reason records why either way. The new row's
-- onnx_binding (ops.model_binding) ties its ONNX blob to its id, name, version, kind.
-- Returns one row: model_id, version, status, status_reason.
CREATE OR REPLACE FUNCTION ops.register_model(
    kind text,
    model_name text,
    artifact bytea,
    onnx_artifact bytea,
    registration jsonb,
    activate boolean
)
RETURNS TABLE (model_id bigint, version integer, status text, status_reason text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_metric text;
    v_higher boolean;
    v_other_kind text;
    v_version integer;
    v_model_id bigint;
    v_active_id bigint;
    v_active_version integer;
    v_active_score double precision;
    v_score double precision;
    v_better boolean;
    v_status text := 'candidate';
    v_reason text;
BEGIN
    IF coalesce(btrim(register_model.model_name), '') = '' OR length(register_model.model_name) > 128 THEN
        RAISE EXCEPTION 'sqlml: model_name must be 1 to 128 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT s.spec #>> '{activation_metric,name}',
        (s.spec #>> '{activation_metric,higher_is_better}')::boolean
    INTO v_metric, v_higher
    FROM models.specs AS s WHERE s.kind = register_model.kind;
    IF v_metric IS NULL THEN
        RAISE EXCEPTION 'sqlml: no spec for model kind %', register_model.kind
            USING ERRCODE = 'undefined_object', HINT = 'run sqlml deploy; it loads models/*.json';
    END IF;

    -- Versions count up per model name: serialise concurrent registrations of one name.
    PERFORM pg_advisory_xact_lock(hashtextextended('sqlml.registry/' || register_model.model_name, 0));
    SELECT r.kind INTO v_other_kind FROM models.registry AS r
    WHERE r.model_name = register_model.model_name AND r.kind <> register_model.kind LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'sqlml: model % is a % model; choose another name for a % model',
            quote_literal(register_model.model_name), v_other_kind, register_model.kind
            USING ERRCODE = 'duplicate_object';
    END IF;
    SELECT coalesce(max(r.version), 0) + 1 INTO v_version
    FROM models.registry AS r WHERE r.model_name = register_model.model_name;

    v_score := (register_model.registration #>> ARRAY['metrics', v_metric])::double precision;
    IF NOT register_model.activate THEN
        v_reason := 'candidate: trained with activate = false';
    ELSE
        SELECT r.model_id, r.version, (r.metrics ->> v_metric)::double precision
        INTO v_active_id, v_active_version, v_active_score
        FROM models.registry AS r
        WHERE r.model_name = register_model.model_name AND r.status = 'active'
        FOR UPDATE;
        v_better := v_active_id IS NULL OR v_active_score IS NULL
            OR (v_higher AND v_score >= v_active_score)
            OR (NOT v_higher AND v_score <= v_active_score);
        IF v_active_id IS NULL THEN
            v_status := 'active';
            v_reason := format('activated: first active version (validation %s %s)',
                v_metric, round(v_score::numeric, 4));
        ELSIF v_better THEN
            v_status := 'active';
            v_reason := format('activated: validation %s %s %s version %s''s %s',
                v_metric, round(v_score::numeric, 4),
                CASE WHEN v_higher THEN '>=' ELSE '<=' END,
                v_active_version, round(v_active_score::numeric, 4));
            UPDATE models.registry AS r
            SET status = 'retired',
                status_reason = format('retired: replaced by version %s', v_version)
            WHERE r.model_id = v_active_id;
        ELSE
            v_reason := format('candidate: validation %s %s is worse than active version %s''s %s',
                v_metric, round(v_score::numeric, 4),
                v_active_version, round(v_active_score::numeric, 4));
        END IF;
    END IF;

    INSERT INTO models.registry (
        model_name, version, kind, status, status_reason, artifact, artifact_sha256,
        onnx_artifact, onnx_sha256, spec, metrics, feature_schema, trained_rows,
        training_seconds, device, activated_at
    )
    VALUES (
        register_model.model_name, v_version, register_model.kind, v_status, v_reason,
        register_model.artifact, register_model.registration ->> 'artifact_sha256',
        register_model.onnx_artifact, register_model.registration ->> 'onnx_sha256',
        register_model.registration -> 'spec', register_model.registration -> 'metrics',
        register_model.registration -> 'feature_schema',
        (register_model.registration ->> 'trained_rows')::bigint,
        (register_model.registration ->> 'training_seconds')::double precision,
        register_model.registration ->> 'device',
        CASE WHEN v_status = 'active' THEN now() END
    )
    RETURNING model_id INTO v_model_id;
    UPDATE models.registry AS r
    SET onnx_binding = ops.model_binding(
        r.model_id, r.model_name, r.version, r.kind, r.onnx_sha256
    )
    WHERE r.model_id = v_model_id;

    RETURN QUERY SELECT v_model_id, v_version, v_status, v_reason;
END;
$$;
REVOKE ALL ON FUNCTION ops.register_model(text, text, bytea, bytea, jsonb, boolean) FROM public;
