-- ml.train_churn_model: train a churn classifier inside SQL Server and register it
-- as the model's next version. Called by ML engineers, `sqlml`, and the weekly
-- retraining job (SQL Agent).
--   @input_query  NULL: the spec's default (features.churn_features); runs with the
--                 caller's rights; needs customer_id, churned (0/1) and feature columns
--   @options      JSON overriding models/churn.json options; unknown keys are errors
--   @activate     activate the new version if it beats (or ties) the active one's AUC
-- Returns one row: model_id, model_name, version, status, metrics (JSON).
-- Every call is a run in ops.runs; on any error nothing is registered. The work is
-- ops.call's (ops.run_train, shared by every model kind).
CREATE OR ALTER PROCEDURE ml.train_churn_model
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX) = NULL,
    @options NVARCHAR(MAX) = NULL,
    @activate BIT = 1
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    EXEC ops.call
        @run_type = N'train_churn_model', @model_name = @model_name, @input_query = @input_query,
        @options = @options, @activate = @activate;
END;
