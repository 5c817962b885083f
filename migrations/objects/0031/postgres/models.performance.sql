-- models.performance: per model and version, how it does on outcomes that arrived
-- (its latest ml.evaluate) beside the validation figures it was trained with, and
-- the latest input drift of its scoring or forecasting runs. Read by analysts, ML
-- engineers, the report and the retraining check (ops.retrain_check).
-- Returns one row per version that was evaluated, has drift measured, or is active:
-- metric (the spec's activation metric), validation and realised (that metric at
-- validation and in the latest evaluation), both metric sets as JSON, the rows
-- evaluated, and the drift run's largest PSI and number of flagged features.
CREATE OR REPLACE VIEW models.performance AS
SELECT
    r.model_name,
    r.version,
    r.kind,
    r.status,
    r.model_id,
    s.spec #>> '{activation_metric,name}' AS metric,
    (r.metrics ->> (s.spec #>> '{activation_metric,name}'))::double precision AS validation,
    (e.metrics ->> (s.spec #>> '{activation_metric,name}'))::double precision AS realised,
    jsonb_strip_nulls(jsonb_build_object(
        'auc', r.metrics -> 'auc', 'pr_auc', r.metrics -> 'pr_auc',
        'log_loss', r.metrics -> 'log_loss', 'brier', r.metrics -> 'brier',
        'accuracy', r.metrics -> 'accuracy', 'mase', r.metrics -> 'mase',
        'smape', r.metrics -> 'smape', 'coverage', r.metrics -> 'coverage'
    )) AS validation_metrics,
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
LEFT JOIN LATERAL (
    SELECT x.run_id, x.rows, x.metrics, x.evaluated_at
    FROM models.evaluations AS x
    WHERE x.model_id = r.model_id
    ORDER BY x.run_id DESC
    LIMIT 1
) AS e ON TRUE
LEFT JOIN LATERAL (
    SELECT
        y.run_id,
        u.started_at AS measured_at,
        max(y.psi) AS max_psi,
        count(*) FILTER (WHERE y.flagged) AS flagged
    FROM ops.run_drift AS y
    INNER JOIN ops.runs AS u ON y.run_id = u.run_id
    WHERE y.run_id = (SELECT max(z.run_id) FROM ops.run_drift AS z WHERE z.model_id = r.model_id)
    GROUP BY y.run_id, u.started_at
) AS d ON TRUE
WHERE e.run_id IS NOT NULL OR d.run_id IS NOT NULL OR r.status = 'active';
