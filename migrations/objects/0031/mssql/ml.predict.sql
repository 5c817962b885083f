-- ml.predict: score rows with an imported model's active version (ml.import_model)
-- and write the batch to predictions.model_scores in one transaction; analysts then
-- read predictions.scores_latest. Called by reports, `sqlml` and SQL Agent jobs.
--   @input_query  runs with the caller's rights; needs the version's id column and the
--                 columns its graph inputs take (models.registry.feature_schema:
--                 inputs[].columns), text for tensor(string), numbers otherwise; a
--                 missing column or a wrong type is an error naming it (THROW 50752)
-- Writes per row: row_id (the id column as text), score (binary: the positive class's
-- probability; multi-class: the predicted class's; regression: the value), label (the
-- predicted class as text; NULL for a regression). Drift goes to ops.run_drift.
-- Returns one row: run_id, model_id, version, rows_scored. Every call is a run in
-- ops.runs; on any error no score of the batch is written. The work is ops.call's
-- (ops.run_predict_model).
CREATE OR ALTER PROCEDURE ml.predict
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    EXEC ops.call
        @run_type = N'predict', @model_name = @model_name, @input_query = @input_query;
END;
