-- ops.run_train(run_id, kind, model_name, options, activate): train a model of a kind
-- on the rows the caller staged for the run, and register it as the model's next
-- version with the activation rule (ops.register_model); with activate, the active
-- version is measured on the new version's held-out rows first (metrics.same_rows). Called by ops.run_call for
-- ml.train_churn_model ('churn') and ml.train_forecaster ('forecaster'), with the
-- owner's rights. Returns {model_id, model_name, version, status, metrics}.
CREATE OR REPLACE FUNCTION ops.run_train(
    run_id bigint, kind text, model_name text, options text, activate boolean
)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_spec jsonb;
    v_trained record;
    v_registered record;
    v_champion record;
BEGIN
    SELECT NULL::bigint AS model_id, NULL::integer AS version, NULL::bytea AS onnx_artifact,
        NULL::text AS onnx_sha256 INTO v_champion;
    SELECT s.spec INTO v_spec FROM models.specs AS s WHERE s.kind = run_train.kind;
    IF v_spec IS NULL THEN
        RAISE EXCEPTION 'sqlml: no spec for model kind %', run_train.kind
            USING ERRCODE = 'undefined_object', HINT = 'run sqlml deploy';
    END IF;
    -- With activate, the active version (if any) is measured on the new version's
    -- held-out rows in the same step (kinds/champion.py), so the rule compares
    -- figures of the same rows.
    IF run_train.activate AND EXISTS (
        SELECT FROM models.registry AS r
        WHERE r.model_name = run_train.model_name AND r.status = 'active' AND r.kind = run_train.kind
    ) THEN
        SELECT * INTO v_champion FROM ops.model_version(run_train.kind, run_train.model_name);
    END IF;
    SELECT * INTO v_trained
    FROM ops.python_step('train', run_train.run_id, jsonb_build_object(
        'kind', run_train.kind, 'spec', v_spec, 'options', run_train.options,
        'champion', CASE WHEN v_champion.model_id IS NOT NULL THEN jsonb_build_object(
            'model_id', v_champion.model_id, 'version', v_champion.version,
            'onnx_sha256', v_champion.onnx_sha256) END
    ), v_champion.onnx_artifact) AS t (artifact bytea, onnx_artifact bytea, registration jsonb);
    SELECT * INTO v_registered FROM ops.register_model(
        run_train.kind, run_train.model_name, v_trained.artifact, v_trained.onnx_artifact,
        v_trained.registration, run_train.activate
    );
    PERFORM ops.finish_run(
        run_train.run_id, v_registered.model_id,
        (v_trained.registration ->> 'trained_rows')::bigint, 1
    );
    RETURN jsonb_build_object(
        'model_id', v_registered.model_id, 'model_name', run_train.model_name,
        'version', v_registered.version, 'status', v_registered.status,
        'metrics', v_trained.registration -> 'metrics'
    );
END;
$$;
REVOKE ALL ON FUNCTION ops.run_train(bigint, text, text, text, boolean) FROM public;
