-- ml.evaluate: realised performance of one version of a model (@version NULL: the
-- active one) on outcomes that arrived after it predicted. Called by ML engineers,
-- `sqlml`, and the retraining check (ops.retrain_check, SQL Agent).
--   @input_query  runs with the caller's rights; NULL: the kind's default query.
--                 churn: labelled rows (customer_id, churned, the model's features),
--                 which the version scores; forecaster: actuals (series_id, period,
--                 value), compared with the version's latest forecast of each period
--                 (give the series' earlier periods too: MASE's scale comes from them)
-- Returns one row: run_id, model_id, version, rows (rows or points compared), metrics
-- (JSON: churn auc, pr_auc, log_loss, brier, accuracy at the version's threshold;
-- forecaster mase, smape, coverage). Every call is a run in ops.runs and a row in
-- models.evaluations (read through models.performance). The work is ops.call's
-- (ops.run_evaluate).
CREATE OR ALTER PROCEDURE ml.evaluate
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX) = NULL,
    @version INT = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    EXEC ops.call
        @run_type = N'evaluate', @model_name = @model_name, @input_query = @input_query,
        @version = @version;
END;
