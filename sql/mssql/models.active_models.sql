-- models.active_models: the version of each model name that scoring uses now.
-- Read by analysts, reports and the sqlml CLI; no model blobs, no features.
-- Returns one row per model name that has an active version.
CREATE OR ALTER VIEW models.active_models AS
SELECT
    r.model_id,
    r.model_name,
    r.version,
    r.kind,
    r.metrics,
    r.trained_rows,
    r.training_seconds,
    r.device,
    r.status_reason,
    r.created_at,
    r.created_by,
    r.activated_at
FROM models.registry AS r
WHERE r.status = N'active';
