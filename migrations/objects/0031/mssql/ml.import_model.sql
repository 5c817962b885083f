-- ml.import_model: register an ONNX model trained elsewhere (scikit-learn through
-- skl2onnx, gradient boosting, Keras, PyTorch ...) as the model's next version, of
-- kind 'imported', which ml.predict scores with. Called by ML engineers and
-- `sqlml models import FILE.onnx`.
--   @model     the .onnx file's bytes. Refused (THROW 50702), with an error naming the
--              op, domain, tensor or bound, unless every node is of domain ai.onnx or
--              ai.onnx.ml, no tensor is in external data, it is within the spec's
--              limits.max_model_bytes, onnx.checker accepts it and ONNX Runtime loads it
--   @options   JSON text: task, id_column (default "id"), features, positive_class,
--              reference_query (runs with the caller's rights), description
--              (docs/imported-models.md)
--   @activate  make it the active version (default 1)
-- Returns one row: model_id, model_name, version, status, metrics (JSON). Every call
-- is a run in ops.runs; on any error nothing is registered. The work is ops.call's
-- (ops.run_import).
CREATE OR ALTER PROCEDURE ml.import_model
    @model_name NVARCHAR(4000),
    @model VARBINARY(MAX) = NULL,
    @options NVARCHAR(MAX) = NULL,
    @activate BIT = 1
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    EXEC ops.call
        @run_type = N'import_model', @model_name = @model_name, @model = @model,
        @options = @options, @activate = @activate;
END;
