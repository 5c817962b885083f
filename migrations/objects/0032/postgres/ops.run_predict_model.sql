-- ops.run_predict_model(run_id, model_name, params): score the rows the caller staged
-- for the run with an imported model's active version, and write them to
-- predictions.model_scores and their drift to ops.run_drift, in this transaction, so
-- a failed run has neither (both written by the predict step itself: one crossing into
-- Python). A version imported without a reference_query takes this first run's rows
-- as its drift profile. Called by ops.run_call for ml.predict, with
-- the owner's rights. Returns {run_id, model_id, version, rows_scored}.
CREATE OR REPLACE FUNCTION ops.run_predict_model(run_id bigint, model_name text, params jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_model record;
    v_schema jsonb;
    v_profile jsonb;
    v_rows bigint;
BEGIN
    IF run_predict_model.params ->> 'input_query' IS NULL THEN
        RAISE EXCEPTION 'sqlml: input_query is required: the rows to score, with the model''s id column and input columns'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_model FROM ops.model_version('imported', run_predict_model.model_name);
    SELECT r.feature_schema INTO v_schema
    FROM models.registry AS r WHERE r.model_id = v_model.model_id;
    SELECT s.written, s.profile INTO v_rows, v_profile
    FROM ops.python_step('predict', run_predict_model.run_id, jsonb_build_object(
        'model_id', v_model.model_id, 'onnx_sha256', v_model.onnx_sha256,
        'feature_schema', v_schema
    ), v_model.onnx_artifact) AS s (written bigint, profile jsonb);
    IF v_profile IS NOT NULL THEN
        UPDATE models.registry AS r
        SET feature_schema = jsonb_set(r.feature_schema, '{profile}', v_profile)
        WHERE r.model_id = v_model.model_id;
    END IF;
    PERFORM ops.finish_run(run_predict_model.run_id, v_model.model_id, v_rows, v_rows);
    RETURN jsonb_build_object('run_id', run_predict_model.run_id,
        'model_id', v_model.model_id, 'version', v_model.version, 'rows_scored', v_rows);
END;
$$;
REVOKE ALL ON FUNCTION ops.run_predict_model(bigint, text, jsonb) FROM public;
