-- ml.import_model(model_name, model, options, activate): register an ONNX model trained
-- elsewhere (scikit-learn through skl2onnx, gradient boosting, Keras, PyTorch ...) as
-- the model's next version, of kind 'imported', which ml.predict scores with.
-- Called by ML engineers and `sqlml models import FILE.onnx`.
--   model     the .onnx file's bytes. Refused, with an error naming the op, domain,
--             tensor or bound, unless every node is of domain ai.onnx or ai.onnx.ml,
--             no tensor is in external data, it is within the spec's
--             limits.max_model_bytes, onnx.checker accepts it and ONNX Runtime loads it
--   options   JSON text: task ("classification" | "regression", else inferred),
--             id_column (default "id"), features (a one-input graph: the query columns
--             that fill it, in order; else inputs match columns by name),
--             positive_class (binary: default the second class), reference_query
--             (rows drift is measured against; runs with the caller's rights; else the
--             first ml.predict run's rows), description
--   activate  make it the active version (default true)
-- Returns one row: model_id, model_name, version, status, metrics (JSON text).
-- Every call is a run in ops.runs; on any error nothing is registered. The work is
-- ops.import_call's.
CREATE OR REPLACE FUNCTION ml.import_model(
    model_name text,
    model bytea DEFAULT NULL,
    options text DEFAULT NULL,
    activate boolean DEFAULT TRUE
)
RETURNS SETOF ml.trained_model
LANGUAGE plpgsql
AS $$
BEGIN
    -- PL/pgSQL, not SQL: its body is resolved when called, so a deploy may create
    -- this function before ops.import_call (snapshots apply in name order).
    RETURN QUERY SELECT * FROM jsonb_populate_record(NULL::ml.trained_model,
        ops.import_call(import_model.model_name, import_model.model, import_model.options,
            import_model.activate));
END;
$$;
REVOKE ALL ON FUNCTION ml.import_model(text, bytea, text, boolean) FROM public;
GRANT EXECUTE ON FUNCTION ml.import_model(text, bytea, text, boolean) TO sqlml_operator;
