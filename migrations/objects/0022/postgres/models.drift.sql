-- models.drift: the latest drift measurement of each input feature, per model version.
-- Read by analysts, reports (sqlml report) and ML engineers deciding to retrain.
-- Returns one row per (model_id, feature) from the newest scoring or forecasting run
-- that measured it: the population stability index of that run's input against the
-- version's training profile, flagged past 0.2 (see docs/drift.md).
CREATE OR REPLACE VIEW models.drift AS
SELECT
    r.model_name,
    r.version AS model_version,
    r.kind,
    d.model_id,
    d.run_id,
    u.run_type,
    u.started_at AS measured_at,
    d.feature,
    d.psi,
    d.flagged,
    d.detail
FROM ops.run_drift AS d
INNER JOIN models.registry AS r ON d.model_id = r.model_id
INNER JOIN ops.runs AS u ON d.run_id = u.run_id
WHERE d.run_id = (
    SELECT MAX(x.run_id) FROM ops.run_drift AS x
    WHERE x.model_id = d.model_id AND x.feature = d.feature
);
