-- ml.score_churn_preview: what-if scoring. Scores the rows of @input_query with the
-- model's active version, exactly as ml.score_churn does, and returns them instead of
-- writing them: nothing goes to predictions.churn_scores, predictions.churn_reasons or
-- ops.run_drift (a made-up customer neither tops the call list nor moves drift). The
-- call is still a run in ops.runs: run type score_churn, params.preview true,
-- rows_out 0. Called by analysts' tools, reports and `sqlml` to ask "what would this
-- customer score?"; meant for a handful of rows.
--   @input_query  NULL: the spec's default (features.churn_features); runs with the
--                 caller's rights; needs customer_id and the model's feature columns
--   @explain      reasons returned per customer (default 0: none); 0 to the spec's
--                 limits.max_explain (20), else THROW 50502; NULL: 0
-- Returns one row per input row, most at risk first (then by customer_id): run_id,
-- model_id, version, customer_id,
-- churn_probability, reasons (JSON array of {rank, feature, feature_value,
-- contribution}, strongest risk first; NULL with @explain 0). The work is ops.call's
-- (ops.run_score_churn with @preview = 1).
CREATE OR ALTER PROCEDURE ml.score_churn_preview
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX) = NULL,
    @explain INT = 0
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    SET @explain = COALESCE(@explain, 0);  -- NULL: the default, as on PostgreSQL
    EXEC ops.call
        @run_type = N'score_churn', @model_name = @model_name, @input_query = @input_query,
        @explain = @explain, @preview = 1;
END;
