-- ml.score_churn: score customers with one version of the model (@version NULL: the
-- active one) and write the batch to predictions.churn_scores in one transaction. Called by reports,
-- `sqlml`, the demo and the nightly scoring job (SQL Agent); analysts then read
-- predictions.churn_latest (and predictions.churn_reasons_latest).
--   @input_query  NULL: the spec's default (features.churn_features); runs with the
--                 caller's rights; needs customer_id and the model's feature columns
--   @explain      reasons kept per customer (default 0: none): with k > 0 the same
--                 transaction also writes each customer's k strongest reasons to
--                 predictions.churn_reasons; 0 to the spec's limits.max_explain (20),
--                 else THROW 50502; NULL: 0
--   @version      NULL (the default): the active version; a number: that version, so
--                 a candidate can shadow the active one (its rows carry its version;
--                 predictions.churn_latest keeps showing the active version's)
-- Returns one row: run_id, model_id, version, rows_scored. Every call is a run in
-- ops.runs; on any error no score and no reason of the batch is written. The work is
-- ops.call's (ops.run_score_churn).
CREATE OR ALTER PROCEDURE ml.score_churn
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX) = NULL,
    @explain INT = 0,
    @version INT = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    SET @explain = COALESCE(@explain, 0);  -- NULL: the default, as on PostgreSQL
    EXEC ops.call
        @run_type = N'score_churn', @model_name = @model_name, @input_query = @input_query,
        @explain = @explain, @version = @version;
END;
