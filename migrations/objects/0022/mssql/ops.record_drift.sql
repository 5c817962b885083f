-- ops.record_drift: write the input drift that a scoring run's embedded Python
-- measured (@drift: a JSON array of {feature, psi, flagged, detail}, against the
-- version's training profile) to ops.run_drift. Called by ops.run_score_churn and
-- ops.run_forecast in the transaction that writes their predictions. A problem
-- measuring drift never fails a run: the Python half then returns one '*' row saying so.
-- Returns nothing.
CREATE OR ALTER PROCEDURE ops.record_drift
    @run_id BIGINT,
    @model_id BIGINT,
    @drift NVARCHAR(MAX)
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    INSERT INTO ops.run_drift (run_id, model_id, feature, psi, flagged, detail)
    SELECT @run_id, @model_id, d.feature, d.psi, d.flagged, d.detail
    FROM OPENJSON(@drift) WITH (
        feature NVARCHAR(256) '$.feature',
        psi FLOAT '$.psi',
        flagged BIT '$.flagged',
        detail NVARCHAR(MAX) '$.detail' AS JSON
    ) AS d;
END;
