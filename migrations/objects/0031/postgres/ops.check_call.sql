-- ops.check_call(run_type, model_name, params): the checks that cost nothing, made
-- before a call reads a row of its input (issue 22: a forecaster named like a churn
-- model, or options that are not JSON, were refused only after reading, training and
-- backtesting). Called by ops.call between ops.begin_run and ops.stage_input, so a
-- refusal is still a failed run. Checks: a training name that belongs to a model of
-- another kind; options as training checks them (ops.check_options: JSON, known
-- names, types, limits.options); a prediction's model that does not exist, is of
-- another kind or has no active version. ops.run_train, ops.run_score_churn,
-- ops.run_forecast and the Python entry points check the same again.
-- Returns nothing; raises the error the later check would have raised.
CREATE OR REPLACE FUNCTION ops.check_call(run_type text, model_name text, params jsonb)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_kind text := CASE check_call.run_type
        WHEN 'train_churn_model' THEN 'churn' WHEN 'score_churn' THEN 'churn'
        WHEN 'train_forecaster' THEN 'forecaster' WHEN 'forecast' THEN 'forecaster'
    END;
    v_training boolean := check_call.run_type LIKE 'train\_%';
    v_other_kind text;
    v_versions integer;
    v_active integer;
    v_spec jsonb;
BEGIN
    IF v_kind IS NULL THEN
        RETURN;  -- ml.activate_model: its checks are its whole work
    END IF;
    SELECT min(r.kind), count(*), count(*) FILTER (WHERE r.status = 'active')
    INTO v_other_kind, v_versions, v_active
    FROM models.registry AS r WHERE r.model_name = check_call.model_name;
    IF v_training AND v_other_kind IS NOT NULL AND v_other_kind <> v_kind THEN
        RAISE EXCEPTION 'sqlml: model % is a % model; choose another name for a % model',
            quote_literal(check_call.model_name), v_other_kind, v_kind
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF NOT v_training THEN
        IF v_versions = 0 THEN
            RAISE EXCEPTION 'sqlml: model % not found', quote_literal(check_call.model_name)
                USING ERRCODE = 'undefined_object',
                    HINT = 'train it first, or list models: SELECT model_name, version, status FROM models.registry';
        ELSIF v_other_kind <> v_kind THEN
            RAISE EXCEPTION 'sqlml: model % is a % model, not a % model',
                quote_literal(check_call.model_name), v_other_kind, v_kind
                USING ERRCODE = 'wrong_object_type';
        ELSIF v_active = 0 AND check_call.params ->> 'version' IS NULL THEN
            -- (a version named: ops.model_version checks that one exists; issue 26)
            RAISE EXCEPTION 'sqlml: model % has no active version (% version(s), none active)',
                quote_literal(check_call.model_name), v_versions
                USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'activate one: SELECT * FROM ml.activate_model(model_name => ..., version => ...)';
        END IF;
        RETURN;
    END IF;

    -- Options: the training entry point's own checks (sqlml.specs.resolve_options:
    -- JSON, an object, known names, types, limits.options), before the input is read.
    IF coalesce(btrim(check_call.params ->> 'options'), '') <> '' THEN
        SELECT s.spec INTO v_spec FROM models.specs AS s WHERE s.kind = v_kind;
        IF v_spec IS NOT NULL THEN  -- without one, ops.run_train says so
            PERFORM ops.check_options(v_kind, v_spec, check_call.params ->> 'options');
        END IF;
    END IF;
END;
$$;
REVOKE ALL ON FUNCTION ops.check_call(text, text, jsonb) FROM public;
GRANT EXECUTE ON FUNCTION ops.check_call(text, text, jsonb) TO sqlml_operator;
