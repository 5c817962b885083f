-- models.performance: per model and version, how it does on outcomes that arrived
-- (its latest ml.evaluate) beside the validation figures it was trained with, and
-- the latest input drift of its scoring or forecasting runs. Read by analysts, ML
-- engineers, the report and the retraining check (ops.retrain_check).
-- Returns one row per version that was evaluated, has drift measured, or is active:
-- metric (the spec's activation metric), validation and realised (that metric at
-- validation and in the latest evaluation), both metric sets as JSON, the rows
-- evaluated, and the drift run's largest PSI and number of flagged features.
CREATE OR ALTER VIEW models.performance AS
SELECT
    r.model_name,
    r.version,
    r.kind,
    r.status,
    r.model_id,
    m.metric,
    TRY_CAST(JSON_VALUE(r.metrics, CONCAT(N'$.', m.metric)) AS FLOAT) AS validation,
    TRY_CAST(JSON_VALUE(e.metrics, CONCAT(N'$.', m.metric)) AS FLOAT) AS realised,
    (
        SELECT
            TRY_CAST(JSON_VALUE(r.metrics, '$.auc') AS FLOAT) AS auc,
            TRY_CAST(JSON_VALUE(r.metrics, '$.pr_auc') AS FLOAT) AS pr_auc,
            TRY_CAST(JSON_VALUE(r.metrics, '$.log_loss') AS FLOAT) AS log_loss,
            TRY_CAST(JSON_VALUE(r.metrics, '$.brier') AS FLOAT) AS brier,
            TRY_CAST(JSON_VALUE(r.metrics, '$.accuracy') AS FLOAT) AS accuracy,
            TRY_CAST(JSON_VALUE(r.metrics, '$.mase') AS FLOAT) AS mase,
            TRY_CAST(JSON_VALUE(r.metrics, '$.smape') AS FLOAT) AS smape,
            TRY_CAST(JSON_VALUE(r.metrics, '$.coverage') AS FLOAT) AS coverage
        FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
    ) AS validation_metrics,
    e.metrics AS realised_metrics,
    e.rows AS evaluated_rows,
    e.evaluated_at,
    e.run_id AS evaluation_run_id,
    d.run_id AS drift_run_id,
    d.measured_at AS drift_measured_at,
    d.max_psi AS drift_max_psi,
    d.flagged AS drift_flagged_features
FROM models.registry AS r
INNER JOIN models.specs AS s ON r.kind = s.kind
CROSS APPLY (SELECT JSON_VALUE(s.spec, '$.activation_metric.name') AS metric) AS m
OUTER APPLY (
    SELECT TOP (1) x.run_id, x.rows, x.metrics, x.evaluated_at
    FROM models.evaluations AS x
    WHERE x.model_id = r.model_id
    ORDER BY x.run_id DESC
) AS e
OUTER APPLY (
    SELECT
        y.run_id,
        MIN(u.started_at) AS measured_at,
        MAX(y.psi) AS max_psi,
        SUM(CASE WHEN y.flagged = 1 THEN 1 ELSE 0 END) AS flagged
    FROM ops.run_drift AS y
    INNER JOIN ops.runs AS u ON y.run_id = u.run_id
    WHERE y.run_id = (SELECT MAX(z.run_id) FROM ops.run_drift AS z WHERE z.model_id = r.model_id)
    GROUP BY y.run_id
) AS d
WHERE e.run_id IS NOT NULL OR d.run_id IS NOT NULL OR r.status = N'active';
