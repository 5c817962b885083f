-- ml.evaluate(model_name, input_query, version): realised performance of one version
-- of a model (NULL: the active one) on outcomes that arrived after it predicted.
-- Called by ML engineers, `sqlml`, and the retraining check (ops.retrain_check).
--   input_query  runs with the caller's rights; NULL: the kind's default query.
--                churn: labelled rows (customer_id, churned, the model's features),
--                which the version scores; forecaster: actuals (series_id, period,
--                value), compared with the version's latest forecast of each period
--                (give the series' earlier periods too: MASE's scale comes from them)
-- Returns one row: run_id, model_id, version, rows (rows or points compared), metrics
-- (JSON text: churn auc, pr_auc, log_loss, brier, accuracy at the version's
-- threshold; forecaster mase, smape, coverage). Every call is a run in ops.runs and
-- a row in models.evaluations (read through models.performance). The work is
-- ops.call's (ops.run_evaluate).
CREATE OR REPLACE FUNCTION ml.evaluate(
    model_name text,
    input_query text DEFAULT NULL,
    version integer DEFAULT NULL
)
RETURNS TABLE (run_id bigint, model_id bigint, version integer, rows bigint, metrics text)
LANGUAGE sql
AS $$
SELECT r.run_id, r.model_id, r.version, r.rows, r.metrics::text FROM jsonb_to_record(ops.call(
    'evaluate', evaluate.model_name,
    jsonb_build_object('input_query', evaluate.input_query, 'version', evaluate.version),
    ops.input_or_default((
        SELECT min(g.kind) FROM models.registry AS g WHERE g.model_name = evaluate.model_name
    ), evaluate.input_query)
)) AS r (run_id bigint, model_id bigint, version integer, rows bigint, metrics jsonb);
$$;
REVOKE ALL ON FUNCTION ml.evaluate(text, text, integer) FROM public;
GRANT EXECUTE ON FUNCTION ml.evaluate(text, text, integer) TO sqlml_operator;
