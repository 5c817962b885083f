-- predictions.churn_latest: each customer's most recent churn score, per model name.
-- Read by analysts and reports (SELECT ... WHERE churn_probability > 0.7).
-- Returns one row per (model_name, customer_id) with the model version that scored it.
CREATE OR ALTER VIEW predictions.churn_latest AS
WITH ranked AS (
    SELECT
        s.customer_id,
        s.churn_probability,
        r.model_name,
        r.version AS model_version,
        s.model_id,
        s.run_id,
        s.scored_at,
        ROW_NUMBER() OVER (
            PARTITION BY r.model_name, s.customer_id ORDER BY s.run_id DESC
        ) AS recency
    FROM predictions.churn_scores AS s
    INNER JOIN models.registry AS r ON s.model_id = r.model_id
    -- A shadow run (ml.score_churn with the version of a challenger, or of a retired
    -- version) is for comparing, not for acting on: the active version's scores stay.
    INNER JOIN ops.runs AS u ON s.run_id = u.run_id
    WHERE u.shadow_of IS NULL
)

SELECT
    customer_id,
    churn_probability,
    model_name,
    model_version,
    model_id,
    run_id,
    scored_at
FROM ranked
WHERE recency = 1;
