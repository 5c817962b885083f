-- ops.model_binding(model_id, model_name, version, kind, onnx_sha256): the keyed hash
-- (HMAC-SHA256) that binds a version's ONNX blob, through its sha256, to the model id,
-- name, version and kind training registered it under. The key is in
-- ops.model_binding_key, which only the owner reads, so a blob and hash moved to
-- another row (or written by anyone without the key) no longer match.
-- Called by ops.register_model (to store it) and ops.model_version (to check it).
CREATE OR REPLACE FUNCTION ops.model_binding(
    model_id bigint, model_name text, version integer, kind text, onnx_sha256 text
)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT encode(sha256(k.outer_pad || sha256(k.inner_pad || convert_to(
    jsonb_build_array($1, $2, $3, $4, lower(btrim($5)))::text, 'UTF8'))), 'hex')
FROM ops.model_binding_key AS k;
$$;
REVOKE ALL ON FUNCTION ops.model_binding(bigint, text, integer, text, text) FROM public;
