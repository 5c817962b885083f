-- models.drift: the latest drift measurement of each input feature, per model name.
-- Read by analysts, reports (sqlml report) and ML engineers deciding to retrain.
-- Returns one row per (model_name, feature) from the newest scoring or forecasting run
-- of that model name that measured it, whichever version ran (model_version says
-- which): the population stability index of that run's input against the version's
-- training profile, flagged past 0.2 (see docs/drift.md). A run of too few rows to
-- measure records one row, feature '*', whose detail says so (never a flag).
CREATE OR REPLACE VIEW models.drift AS
WITH ranked AS (
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
        d.detail,
        ROW_NUMBER() OVER (
            PARTITION BY r.model_name, d.feature ORDER BY d.run_id DESC
        ) AS recency
    FROM ops.run_drift AS d
    INNER JOIN models.registry AS r ON d.model_id = r.model_id
    INNER JOIN ops.runs AS u ON d.run_id = u.run_id
)

SELECT
    model_name,
    model_version,
    kind,
    model_id,
    run_id,
    run_type,
    measured_at,
    feature,
    psi,
    flagged,
    detail
FROM ranked
WHERE recency = 1;
