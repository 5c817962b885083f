-- ops.register_model(kind, model_name, artifact, onnx_artifact, registration, activate):
-- add the next version of a model to models.registry and apply the activation rule.
-- Called by ops.run_train (owner's rights) with what the embedded Python returned.
-- Rule (docs/registry.md), with activate, on the spec's activation_metric (AUC for
-- churn, higher is better; backtest MASE for forecasts, lower is better):
--   1. with no active version, the new one becomes active (scoring needs one), its
--      reason saying whether it beat its baseline;
--   2. else a version whose validation metric does not beat its own baseline's (the
--      spec's activation_metric.baseline) stays a candidate;
--   3. else it becomes active only when it beats the active version by more than
--      options.activation_margin (default 0; a tie keeps the active version) on the
--      SAME rows: metrics.same_rows, the active version measured by training on the
--      new version's held-out rows (kinds/champion.py). Without that comparison, or
--      with one made against a version that is no longer active, it stays a candidate.
--      A version pinned by ml.activate_model (a rollback) is kept the same way, and
--      the reason says so.
--   An imported version (kind imported) has no baseline and no same-rows comparison:
--      with activate it becomes active, replacing the active version (pinned or not).
-- status_reason records the figures, the rows they came from, and the verdict. The
-- new row's onnx_binding (ops.model_binding) ties its ONNX blob to its id, name,
-- version, kind. Returns one row: model_id, version, status, status_reason.
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
    v_score double precision;
    v_baseline_name text;
    v_baseline double precision;
    v_margin double precision;
    v_same jsonb;
    v_pinned boolean;
    v_pin_note text;
    v_new double precision;
    v_old double precision;
    v_rows_note text;
    v_status text := 'candidate';
    v_reason text;
BEGIN
    IF coalesce(btrim(register_model.model_name), '') = '' OR length(register_model.model_name) > 128 THEN
        RAISE EXCEPTION 'sqlml: model_name must be 1 to 128 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT s.spec #>> '{activation_metric,name}',
        (s.spec #>> '{activation_metric,higher_is_better}')::boolean,
        s.spec #>> '{activation_metric,baseline}'
    INTO v_metric, v_higher, v_baseline_name
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
    v_baseline := (register_model.registration #>> ARRAY['metrics', v_baseline_name])::double precision;
    v_margin := coalesce(
        (register_model.registration #>> '{spec,options,activation_margin}')::double precision, 0);
    v_same := register_model.registration #> '{metrics,same_rows}';
    IF NOT register_model.activate THEN
        v_reason := 'candidate: trained with activate = false';
    ELSE
        SELECT r.model_id, r.version, coalesce(r.pinned, false)
        INTO v_active_id, v_active_version, v_pinned
        FROM models.registry AS r
        WHERE r.model_name = register_model.model_name AND r.status = 'active'
        FOR UPDATE;
        v_pin_note := CASE WHEN v_pinned THEN format(
            '; version %s was pinned by ml.activate_model and stays until a version beats it by the margin on the same rows',
            v_active_version) ELSE '' END;
        -- An imported model brings no validation metric and no held-out rows to compare
        -- on: activate = true is the operator's decision to deploy it (docs/imported-models.md),
        -- so it replaces the active version, and the reason says why.
        IF register_model.kind = 'imported' THEN
            v_status := 'active';
            v_reason := CASE WHEN v_active_id IS NULL
                THEN 'activated: first active version (imported with activate = true)'
                ELSE format('activated: imported with activate = true, replacing version %s '
                    '(an imported model has no validation metric to compare on the same rows)',
                    v_active_version)
                    || CASE WHEN v_pinned THEN format('; version %s had been pinned by ml.activate_model',
                        v_active_version) ELSE '' END END;
            UPDATE models.registry AS r
            SET status = 'retired', pinned = false,
                status_reason = format('retired: replaced by imported version %s', v_version)
            WHERE r.model_id = v_active_id;
        -- The first version becomes active whatever its baseline did: scoring needs an
        -- active version, and the reason says when a better one is still wanted.
        ELSIF v_active_id IS NULL AND v_score IS NOT NULL THEN
            v_status := 'active';
            v_reason := format('activated: first active version (validation %s %s%s)',
                v_metric, ops.figure(v_score),
                CASE WHEN v_baseline IS NULL THEN ''
                    ELSE format(', baseline %s', ops.figure(v_baseline)) END)
                || CASE WHEN v_baseline IS NOT NULL AND (
                    (v_higher AND v_score <= v_baseline) OR (NOT v_higher AND v_score >= v_baseline)
                ) THEN '; it does not beat its baseline, so the next version that does replaces it'
                ELSE '' END;
        ELSIF v_score IS NULL OR (v_baseline IS NOT NULL AND (
            (v_higher AND v_score <= v_baseline) OR (NOT v_higher AND v_score >= v_baseline)
        )) THEN
            -- A network that does not beat the simple method it is measured beside
            -- adds nothing a reader should trust; the rule never lets it replace one.
            v_reason := format('candidate: validation %s %s does not beat its baseline''s %s',
                v_metric, ops.figure(v_score), ops.figure(v_baseline)) || v_pin_note;
        ELSIF v_same IS NULL OR (v_same ->> 'champion_model_id')::bigint IS DISTINCT FROM v_active_id
            OR v_same ->> 'champion' IS NULL OR v_same ->> 'challenger' IS NULL THEN
            v_reason := format('candidate: not compared with active version %s on the same rows (%s)',
                v_active_version, CASE
                    WHEN v_same ->> 'error' IS NOT NULL
                        AND (v_same ->> 'champion_model_id')::bigint = v_active_id
                        THEN v_same ->> 'error'
                    WHEN v_same IS NOT NULL THEN format(
                        'it was compared with version %s, which is no longer the active one',
                        v_same ->> 'champion_version')
                    ELSE 'training made no comparison' END) || v_pin_note;
        ELSE
            v_new := (v_same ->> 'challenger')::double precision;
            v_old := (v_same ->> 'champion')::double precision;
            v_rows_note := format('on the same %s rows (%s), margin %s',
                v_same ->> 'rows', v_same ->> 'rows_from', ops.figure(v_margin));
            IF (v_higher AND v_new > v_old + v_margin) OR (NOT v_higher AND v_new < v_old - v_margin) THEN
                v_status := 'active';
                v_reason := format('activated: %s %s beats active version %s''s %s %s',
                    v_metric, ops.figure(v_new), v_active_version, ops.figure(v_old), v_rows_note)
                    || CASE WHEN v_pinned THEN format('; version %s had been pinned by ml.activate_model',
                        v_active_version) ELSE '' END;
                UPDATE models.registry AS r
                SET status = 'retired', pinned = false,
                    status_reason = format('retired: replaced by version %s (%s %s against %s %s)',
                        v_version, v_metric, ops.figure(v_new), ops.figure(v_old), v_rows_note)
                WHERE r.model_id = v_active_id;
            ELSE
                v_reason := format('candidate: %s %s does not beat active version %s''s %s %s%s',
                    v_metric, ops.figure(v_new), v_active_version, ops.figure(v_old), v_rows_note,
                    CASE WHEN v_new = v_old THEN '; a tie keeps the active version' ELSE '' END)
                    || v_pin_note;
            END IF;
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
