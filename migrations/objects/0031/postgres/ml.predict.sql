-- ml.predict(model_name, input_query): score rows with an imported model's active
-- version (ml.import_model) and write the batch to predictions.model_scores in one
-- transaction; analysts then read predictions.scores_latest.
--   input_query  runs with the caller's rights; needs the version's id column and the
--                columns its graph inputs take (models.registry.feature_schema:
--                inputs[].columns), text for tensor(string), numbers otherwise; a
--                missing column or a wrong type is an error naming it
-- Writes per row: row_id (the id column as text), score (binary: the positive
-- class's probability; multi-class: the predicted class's; regression: the value),
-- label (the predicted class as text; NULL for a regression). Drift of the run's
-- input against the version's reference profile goes to ops.run_drift.
-- Returns one row: run_id, model_id, version, rows_scored. Every call is a run in
-- ops.runs; on any error no score of the batch is written. The work is ops.call's
-- (ops.run_predict_model).
CREATE OR REPLACE FUNCTION ml.predict(model_name text, input_query text DEFAULT NULL)
RETURNS TABLE (run_id bigint, model_id bigint, version integer, rows_scored bigint)
LANGUAGE sql
AS $$
SELECT * FROM jsonb_to_record(ops.call(
    'predict', predict.model_name,
    jsonb_build_object('input_query', predict.input_query), predict.input_query
)) AS r (run_id bigint, model_id bigint, version integer, rows_scored bigint);
$$;
REVOKE ALL ON FUNCTION ml.predict(text, text) FROM public;
GRANT EXECUTE ON FUNCTION ml.predict(text, text) TO sqlml_operator;
