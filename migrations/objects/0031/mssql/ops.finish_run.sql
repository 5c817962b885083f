-- ops.finish_run: mark a run succeeded with its model and row counts.
-- Called last by the work of every run (ops.run_train, ops.run_score_churn,
-- ops.run_forecast, ops.run_activate, ml.spark_publish),
-- inside the transaction that writes the rows it counts. Returns nothing.
CREATE OR ALTER PROCEDURE ops.finish_run
    @run_id BIGINT,
    @model_id BIGINT,
    @rows_in BIGINT,
    @rows_out BIGINT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    UPDATE ops.runs
    SET
        status = N'succeeded',
        model_id = @model_id,
        rows_in = @rows_in,
        rows_out = @rows_out,
        finished_at = SYSDATETIMEOFFSET()
    WHERE run_id = @run_id;
END;
