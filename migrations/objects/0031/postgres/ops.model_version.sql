-- ops.model_version(kind, model_name, model_version): one version of a model, or a
-- clear error: model_version when given, else the model's active version. Called
-- with the owner's rights by ops.run_score_churn and ops.run_forecast (the active
-- version) and by ml.spark_begin (either). Returns one row: model_id, version,
-- onnx_artifact, onnx_sha256. Errors name the model and say what to do. The
-- version's binding (ops.model_binding) must match: a blob and its sha256 that are
-- not the ones training registered for this model id, name, version and kind are
-- refused before a byte of them is parsed.
CREATE OR REPLACE FUNCTION ops.model_version(
    kind text, model_name text, model_version integer DEFAULT NULL
)
RETURNS TABLE (model_id bigint, version integer, onnx_artifact bytea, onnx_sha256 text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_kind text;
    v_versions integer;
    v_row models.registry;
BEGIN
    SELECT min(r.kind), count(*) INTO v_kind, v_versions
    FROM models.registry AS r
    WHERE r.model_name = model_version.model_name;
    IF v_versions = 0 THEN
        RAISE EXCEPTION 'sqlml: model % not found', quote_literal(model_version.model_name)
            USING ERRCODE = 'undefined_object',
                HINT = 'train it first, or list models: SELECT model_name, version, status FROM models.registry';
    END IF;
    IF v_kind <> model_version.kind THEN
        RAISE EXCEPTION 'sqlml: model % is a % model, not a % model',
            quote_literal(model_version.model_name), v_kind, model_version.kind
            USING ERRCODE = 'wrong_object_type';
    END IF;
    SELECT r.* INTO v_row FROM models.registry AS r
    WHERE r.model_name = model_version.model_name
        AND (r.version = model_version.model_version
            OR (model_version.model_version IS NULL AND r.status = 'active'));
    IF NOT FOUND AND model_version.model_version IS NULL THEN
        RAISE EXCEPTION 'sqlml: model % has no active version (% version(s), none active)',
            quote_literal(model_version.model_name), v_versions
            USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'activate one: SELECT * FROM ml.activate_model(model_name => ..., version => ...)';
    ELSIF NOT FOUND THEN
        RAISE EXCEPTION 'sqlml: model % has no version %',
            quote_literal(model_version.model_name), model_version.model_version
            USING ERRCODE = 'undefined_object',
                HINT = 'list its versions: SELECT version, status FROM models.registry WHERE model_name = ...';
    END IF;
    IF v_row.onnx_binding IS DISTINCT FROM ops.model_binding(
        v_row.model_id, v_row.model_name, v_row.version, v_row.kind, v_row.onnx_sha256
    ) THEN
        RAISE EXCEPTION 'sqlml: model % version %: onnx_artifact is not the blob training registered for this model and version (its binding to model id, name, version and kind does not match)',
            quote_literal(model_version.model_name), v_row.version
            USING ERRCODE = 'data_corrupted',
                HINT = 'restore this version''s blob from a backup, or train a new version';
    END IF;
    RETURN QUERY SELECT v_row.model_id, v_row.version, v_row.onnx_artifact,
        v_row.onnx_sha256::text;
END;
$$;
REVOKE ALL ON FUNCTION ops.model_version(text, text, integer) FROM public;
