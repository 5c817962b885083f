-- ml.activate_model(model_name, version): make one version of a model the active one
-- (and retire the one it replaces): promotion after review, or a rollback.
-- Called by ML engineers and `sqlml`. Returns one row: model_id, model_name,
-- version, status. Recorded in ops.runs and in the versions' status_reason; the
-- work is ops.call's (ops.run_activate), with the owner's rights: no caller writes
-- models.registry itself.
CREATE OR REPLACE FUNCTION ml.activate_model(model_name text, version integer)
RETURNS SETOF ml.model_state
LANGUAGE sql
AS $$
SELECT * FROM jsonb_populate_record(NULL::ml.model_state, ops.call(
    'activate_model', activate_model.model_name,
    jsonb_build_object('version', activate_model.version), NULL
));
$$;
REVOKE ALL ON FUNCTION ml.activate_model(text, integer) FROM public;
GRANT EXECUTE ON FUNCTION ml.activate_model(text, integer) TO sqlml_operator;
