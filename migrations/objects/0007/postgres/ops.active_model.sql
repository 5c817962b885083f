-- ops.active_model(kind, model_name): the active version of a model, or a clear error.
-- Called by ml.score_churn and ml.forecast. Returns one row: model_id, version,
-- onnx_artifact, onnx_sha256. Errors name the model and say what to do.
CREATE OR REPLACE FUNCTION ops.active_model(kind text, model_name text)
RETURNS TABLE (model_id bigint, version integer, onnx_artifact bytea, onnx_sha256 text)
LANGUAGE plpgsql
STABLE
AS $$
#variable_conflict use_column
DECLARE
    v_kind text;
    v_versions integer;
BEGIN
    SELECT min(r.kind), count(*) INTO v_kind, v_versions
    FROM models.registry AS r
    WHERE r.model_name = active_model.model_name;
    IF v_versions = 0 THEN
        RAISE EXCEPTION 'sqlml: model % not found', quote_literal(active_model.model_name)
            USING ERRCODE = 'undefined_object',
                HINT = 'train it first, or list models: SELECT model_name, version, status FROM models.registry';
    END IF;
    IF v_kind <> active_model.kind THEN
        RAISE EXCEPTION 'sqlml: model % is a % model, not a % model',
            quote_literal(active_model.model_name), v_kind, active_model.kind
            USING ERRCODE = 'wrong_object_type';
    END IF;
    RETURN QUERY
    SELECT r.model_id, r.version, r.onnx_artifact, r.onnx_sha256::text
    FROM models.registry AS r
    WHERE r.model_name = active_model.model_name AND r.status = 'active';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sqlml: model % has no active version (% version(s), none active)',
            quote_literal(active_model.model_name), v_versions
            USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'activate one: SELECT * FROM ml.activate_model(model_name => ..., version => ...)';
    END IF;
END;
$$;
